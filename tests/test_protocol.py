"""The protocol's schemas and framing, fed plain text (no server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from signaling.protocol import (
    EVENTS,
    MAX_SDP_CHARS,
    REQUESTS,
    ProtocolError,
    encode,
    json_schema,
    parse_request,
)
from tests.cases import case_text

CALLBACK = "cb-0123456789abcdef"
CALL = "c-0123456789abcdef"

VALID: list[dict[str, Any]] = [
    {"type": "hello", "v": 1, "role": "customer", "name": "Ada"},
    {"type": "hello", "v": 1, "role": "agent", "token": "t" * 40},
    {
        "type": "hello",
        "v": 1,
        "role": "customer",
        "resume": {
            "session_id": "s-0011223344556677",
            "resume_token": "r" * 32,
            "last_seq": 7,
        },
    },
    {"type": "ping", "id": "1"},
    {"type": "ice.servers", "id": "i2"},
    {"type": "agent.status", "status": "available"},
    {
        "type": "call.place",
        "caller": {"name": "Ada", "topic": "billing", "page": "/faq"},
    },
    {"type": "call.place"},
    {"type": "call.place", "visit": "Zx_9-" + "a" * 11},
    {"type": "call.place", "visit": "v" * 64},
    {"type": "call.accept", "call_id": CALL},
    {"type": "call.decline", "call_id": CALL},
    {"type": "call.hangup", "call_id": CALL},
    {"type": "call.hold", "call_id": CALL, "on": True},
    {"type": "call.mute", "call_id": CALL, "on": False},
    {"type": "call.dtmf", "call_id": CALL, "digits": "12#*"},
    {"type": "sdp.offer", "call_id": CALL, "sdp": "v=0\r\n"},
    {"type": "sdp.answer", "call_id": CALL, "sdp": "v=0\r\n"},
    {"type": "ice.candidate", "call_id": CALL, "candidate": None},
    {
        "type": "ice.candidate",
        "call_id": CALL,
        "candidate": {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0},
    },
    {"type": "agent.list"},
    {"type": "call.transfer", "call_id": CALL, "agent": "u-0123456789abcdef"},
    {"type": "call.transfer", "call_id": CALL, "tollfree": True},
    {"type": "call.consult", "call_id": CALL, "agent": "u-0123456789abcdef"},
    {"type": "call.consult_complete", "call_id": CALL},
    {"type": "call.consult_cancel", "call_id": CALL},
    {"type": "ivr.digit", "call_id": CALL, "digit": "#"},
    {"type": "ivr.choose", "call_id": CALL, "node": "welcome", "digits": "1"},
    {
        "type": "ivr.callback",
        "call_id": CALL,
        "node": "billing-callback",
        "number": "+1 212 555 0100",
        "window": "09:00-12:00",
    },
    {"type": "ivr.callback", "call_id": CALL, "node": "x", "decline": True},
    {"type": "ivr.prompt_done", "call_id": CALL, "play": 3},
    {"type": "call.unreached", "call_id": CALL, "reason": "busy"},
    {
        "type": "callback.request",
        "number": "+1 212 555 0100",
        "window": "09:00-12:00",
        "date": "2026-12-07",
        "topic": "billing",
        "consent": "We may call you back on this number.",
    },
    {"type": "callback.request", "number": "2125550100", "consent": "Yes."},
    {"type": "callback.attach", "callback": CALLBACK, "token": "t" * 24},
    {"type": "callback.cancel", "callback": CALLBACK, "token": "t" * 24},
    {"type": "callback.list"},
    {"type": "floor.watch", "id": "w1"},
    {"type": "callback.claim", "callback": CALLBACK},
    {"type": "callback.skip", "callback": CALLBACK},
    {"type": "callback.outcome", "callback": CALLBACK, "outcome": "resolved"},
    {
        "type": "callback.outcome",
        "callback": CALLBACK,
        "outcome": "call-again",
        "note": "asked for the evening",
    },
]


def test_every_request_type_has_a_valid_example() -> None:
    assert {m["type"] for m in VALID} == set(REQUESTS)


@pytest.mark.parametrize("message", VALID, ids=lambda m: m["type"])
def test_valid_requests_pass(message: dict[str, object]) -> None:
    assert parse_request(json.dumps(message)) == message


INVALID = [
    # (frame, code, words the message must contain)
    (
        '{"type":"callback.claim","callback":"c-0123456789abcdef"}',
        "invalid-message",
        "callback",
    ),
    (
        '{"type":"callback.request","number":"+12125550100"}',
        "invalid-message",
        "consent",
    ),
    (
        '{"type":"callback.request","number":"+12125550100",'
        '"consent":"ok","date":"7 Dec"}',
        "invalid-message",
        "date",
    ),
    (
        f'{{"type":"callback.cancel","callback":"{CALLBACK}","token":"short"}}',
        "invalid-message",
        "token",
    ),
    (
        f'{{"type":"callback.outcome","callback":"{CALLBACK}","outcome":"great"}}',
        "invalid-message",
        "outcome",
    ),
    (
        f'{{"type":"call.unreached","call_id":"{CALL}","reason":"gone"}}',
        "invalid-message",
        "reason",
    ),
    ('{"type":"call.place","visit":"short"}', "invalid-message", "visit"),
    (f'{{"type":"call.place","visit":"{"v" * 65}"}}', "invalid-message", "visit"),
    (
        '{"type":"call.place","visit":"not/a_visit_id_at_all"}',
        "invalid-message",
        "visit",
    ),
    ('{"type":"call.place","visit":12345678901234567}', "invalid-message", "visit"),
    (
        '{"type":"callback.request","number":"+12125550100",'
        '"consent":"ok","visit":"a visit with spaces"}',
        "invalid-message",
        "visit",
    ),
    ('{"type":"call.accept"}', "invalid-message", "call_id"),
    ('{"type":"call.accept","call_id":"c-zz"}', "invalid-message", "call_id"),
    (
        f'{{"type":"call.dtmf","call_id":"{CALL}","digits":"12a"}}',
        "invalid-message",
        "digits",
    ),
    (
        f'{{"type":"call.dtmf","call_id":"{CALL}","digits":""}}',
        "invalid-message",
        "digits",
    ),
    (
        f'{{"type":"ivr.digit","call_id":"{CALL}","digit":"12"}}',
        "invalid-message",
        "digit",
    ),
    (
        f'{{"type":"ivr.digit","call_id":"{CALL}","digit":"A"}}',
        "invalid-message",
        "digit",
    ),
    (
        f'{{"type":"ivr.choose","call_id":"{CALL}","node":"../x","digits":"1"}}',
        "invalid-message",
        "node",
    ),
    (
        f'{{"type":"ivr.prompt_done","call_id":"{CALL}","play":0}}',
        "invalid-message",
        "play",
    ),
    (
        f'{{"type":"call.consult","call_id":"{CALL}","agent":"../etc"}}',
        "invalid-message",
        "agent",
    ),
    (f'{{"type":"call.consult","call_id":"{CALL}"}}', "invalid-message", "agent"),
    ('{"type":"hello","v":1,"role":"admin"}', "invalid-message", "role"),
    ('{"type":"hello","v":1,"role":"customer","extra":1}', "invalid-message", "extra"),
    ('{"type":"agent.status","status":"ringing"}', "invalid-message", "status"),
    ('{"type":"nope"}', "unknown-type", "nope"),
    ('{"v":1}', "invalid-message", "type"),
    ('{"type":7}', "invalid-message", "type"),
    ('{"type":"ping"}{"type":"ping"}', "invalid-json", "exactly one JSON object"),
    ('{"type":"ping"', "invalid-json", "not valid JSON"),
    ('[{"type":"ping"}]', "invalid-json", "list"),
    ('"ping"', "invalid-json", "str"),
    ("", "invalid-json", "not valid JSON"),
    ('{"type":"ping","id":NaN}', "invalid-json", "NaN"),
    ("[" * 100_000, "invalid-json", "not valid JSON"),
]


@pytest.mark.parametrize(("frame", "code", "words"), INVALID)
def test_invalid_frames_get_a_code_and_a_sentence(
    frame: str, code: str, words: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request(frame)
    assert caught.value.code == code
    assert words in caught.value.message
    event = caught.value.to_event()
    assert event["type"] == "error" and event["code"] == code


def test_error_quotes_the_request_id() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request('{"type":"call.hangup","id":"req-9"}')
    assert caught.value.to_event()["ref"] == "req-9"


def test_sdp_size_limit() -> None:
    frame = json.dumps(
        {"type": "sdp.offer", "call_id": CALL, "sdp": "a" * (MAX_SDP_CHARS + 1)}
    )
    with pytest.raises(ProtocolError, match="sdp"):
        parse_request(frame)


def test_case_23_two_json_objects_in_one_frame() -> None:
    frame = case_text("23-websocket-frame-with-two-json-objects")
    with pytest.raises(ProtocolError) as caught:
        parse_request(frame)
    assert caught.value.code == "invalid-json"
    assert "one JSON object per frame" in caught.value.message


def test_encode_is_compact_and_refuses_nan() -> None:
    assert encode({"type": "pong"}) == '{"type":"pong"}'
    with pytest.raises(ValueError):
        encode({"type": "x", "n": float("nan")})


def test_published_schema_lists_every_message() -> None:
    schema = json_schema()
    assert set(schema["requests"]) == set(REQUESTS)
    assert set(schema["events"]) == set(EVENTS)
    json.dumps(schema)  # serializable as served
