"""The dialog a worker keeps per answered call, and the BYE its successor
sends from it (gateway/sip_dialog.py), on case 19's INVITE and 200."""

from __future__ import annotations

import re

from gateway.sip_dialog import Dialog, address_of, bye, dialog_of
from tests.cases import case_text

LADDER = re.split(
    r"^### .*\r?\n", case_text("19-cancel-after-200-then-bye-before-ack"), flags=re.M
)
INVITE, OK = LADDER[1], LADDER[2]


def test_the_dialog_of_an_invite_and_our_200() -> None:
    dialog = dialog_of(INVITE, OK)

    assert dialog == Dialog(
        call_id="6f7d9f36-274f-4d27-bf9b-253b0ecbc7c5@127.0.0.12",
        local="<sip:agent1001@gateway.example.com>;tag=e2020al41f",
        remote="<sip:+15550190@trunk.example.com>;tag=8cc5f5fd",
        target="sip:+15550190@127.0.0.12:1024",
        routes=(
            "<sip:127.0.0.10;transport=ws;r2=on;lr=on;ftag=8cc5f5fd>",
            "<sip:127.0.0.11;r2=on;lr=on;ftag=8cc5f5fd>",
        ),
    )
    assert Dialog.from_dict(dialog.to_dict()) == dialog


def test_no_dialog_without_our_tag_or_a_contact() -> None:
    assert dialog_of(INVITE, OK.replace(";tag=e2020al41f", "")) is None
    no_contact = "\r\n".join(
        line for line in INVITE.split("\r\n") if not line.startswith("Contact:")
    )
    assert dialog_of(no_contact, OK) is None


def test_the_bye_goes_to_the_first_route_with_the_tags_swapped() -> None:
    dialog = dialog_of(INVITE, OK)
    assert dialog is not None

    text, where = bye(dialog, "127.0.0.1", 5060)
    lines = text.split("\r\n")

    assert lines[0] == "BYE sip:+15550190@127.0.0.12:1024 SIP/2.0"
    assert where == ("127.0.0.10", 5060)
    assert lines.count("Route: <sip:127.0.0.11;r2=on;lr=on;ftag=8cc5f5fd>") == 1
    assert "From: <sip:agent1001@gateway.example.com>;tag=e2020al41f" in lines
    assert "To: <sip:+15550190@trunk.example.com>;tag=8cc5f5fd" in lines
    assert text.endswith("Content-Length: 0\r\n\r\n")


def test_without_routes_the_bye_goes_to_the_contact() -> None:
    dialog = dialog_of(INVITE, OK)
    assert dialog is not None
    direct = Dialog(dialog.call_id, dialog.local, dialog.remote, dialog.target, ())

    assert bye(direct, "127.0.0.1", 5060)[1] == ("127.0.0.12", 1024)
    assert address_of("sips:[::1]:5061;transport=tls") == ("::1", 5061)
