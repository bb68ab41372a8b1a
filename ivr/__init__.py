"""The IVR: menu model, validator and interpreter, all sans-I/O.

`ivr.menu` holds menu documents (typed nodes, draft / published / archived,
YAML, JSON and dict import and export that refuse a bad menu with the place
of every fault). `ivr.validator` walks every path of a menu before it is
published and refuses one that reaches the toll-free line before both an
FAQ answer and the callback offer, has unreachable nodes, endless paths or
missing prompts. `ivr.interpreter` runs one call through a menu as a state
machine: events in, actions out, timers as actions, so an adapter does the
playing, the timing and the routing. `ivr.dtmf` and `ivr.inband` turn
what a SIP media worker receives (INFO bodies, telephone-events, audio)
into keypad digits. `demo_menu.yaml` is the menu of a fictional company,
shipped as package data.

Nothing here imports asyncio, sockets, Redis, aiortc or pjsua2.
"""
