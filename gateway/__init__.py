"""Helpline gateway: configuration, the app that wires everything, the Redis
store, routing of calls to agents, and (later) the SIP media workers."""

__version__ = "0.1.0"
