"""The versioned JSON protocol spoken on ``/ws`` (see docs/protocol.md).

Sans-I/O: text in, validated ``dict`` out; ``dict`` in, text out. Every
message type has a JSON Schema with size limits. A frame that is not exactly
one JSON object, or a message that fails its schema, raises
:class:`ProtocolError` with a code the client can act on; nothing is guessed.
"""

from __future__ import annotations

import json
from typing import Any, Final

from jsonschema import Draft202012Validator

from signaling.errors import SignalingError

VERSION: Final = 1
MAX_FRAME_BYTES: Final = 65_536
MAX_SDP_CHARS: Final = 32_768
MAX_CANDIDATE_CHARS: Final = 1_024
#: Who a session speaks for: a customer's page, an agent's softphone, an
#: operator's console (which watches the live floor).
ROLES: Final = ("customer", "agent", "operator")

Message = dict[str, Any]


class ProtocolError(SignalingError):
    """A request the server cannot act on; the session stays as it was."""

    recoverable = True

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref

    def to_event(self) -> Message:
        event: Message = {"type": "error", "code": self.code, "message": self.message}
        if self.ref is not None:
            event["ref"] = self.ref
        return event


def _string(max_length: int, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, **extra}


_CALL_ID = _string(40, pattern=r"^c-[0-9a-f]{8,32}$")
_SESSION_ID = _string(40, pattern=r"^s-[0-9a-f]{8,32}$")
_AGENT_ID = _string(40, pattern=r"^u-[0-9a-f]{8,32}$")
_CALLBACK_ID = _string(40, pattern=r"^cb-[0-9a-f]{8,32}$")
#: The widget's id of a page visit (``sessionStorage``), so a report joins
#: the page's FAQ views and the calls placed from it.
VISIT_PATTERN: Final = r"^[A-Za-z0-9_-]{16,64}$"
_VISIT = _string(64, minLength=16, pattern=VISIT_PATTERN)
_ON = {"type": "boolean"}
_CALLER = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": _string(80),
        "topic": _string(200),
        "page": _string(500),
    },
}
_CANDIDATE = {
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["candidate"],
            "properties": {
                "candidate": _string(MAX_CANDIDATE_CHARS),
                "sdpMid": {"type": ["string", "null"], "maxLength": 32},
                "sdpMLineIndex": {
                    "type": ["integer", "null"],
                    "minimum": 0,
                    "maximum": 63,
                },
                "usernameFragment": {"type": ["string", "null"], "maxLength": 256},
            },
        },
    ]
}
_NODE = _string(64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DIGIT = _string(1, pattern=r"^[0-9*#]$")
_RESUME = {
    "type": "object",
    "additionalProperties": False,
    "required": ["session_id", "resume_token", "last_seq"],
    "properties": {
        "session_id": _SESSION_ID,
        "resume_token": _string(128, minLength=16),
        "last_seq": {"type": "integer", "minimum": 0, "maximum": 2**53},
    },
}


def _request(required: dict[str, Any], optional: dict[str, Any] | None = None) -> Any:
    properties = {"type": {"type": "string"}, "id": _string(64), **required}
    properties.update(optional or {})
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", *required],
        "properties": properties,
    }


#: The schema of every request a client may send, by ``type``.
REQUESTS: Final[dict[str, Any]] = {
    "hello": _request(
        {"v": {"type": "integer"}, "role": {"enum": list(ROLES)}},
        {"token": _string(256), "name": _string(80), "resume": _RESUME},
    ),
    "ping": _request({}),
    "ice.servers": _request({}),
    "agent.status": _request({"status": {"enum": ["available", "away"]}}),
    "call.place": _request({}, {"caller": _CALLER, "visit": _VISIT}),
    "call.accept": _request({"call_id": _CALL_ID}),
    "call.decline": _request({"call_id": _CALL_ID}),
    "call.hangup": _request({"call_id": _CALL_ID}),
    "call.hold": _request({"call_id": _CALL_ID, "on": _ON}),
    "call.mute": _request({"call_id": _CALL_ID, "on": _ON}),
    "call.dtmf": _request(
        {"call_id": _CALL_ID, "digits": _string(32, pattern=r"^[0-9*#]{1,32}$")}
    ),
    "sdp.offer": _request({"call_id": _CALL_ID, "sdp": _string(MAX_SDP_CHARS)}),
    "sdp.answer": _request({"call_id": _CALL_ID, "sdp": _string(MAX_SDP_CHARS)}),
    "ice.candidate": _request({"call_id": _CALL_ID, "candidate": _CANDIDATE}),
    "agent.list": _request({}),
    "call.transfer": _request(
        {"call_id": _CALL_ID}, {"agent": _AGENT_ID, "tollfree": {"type": "boolean"}}
    ),
    "call.consult": _request({"call_id": _CALL_ID, "agent": _AGENT_ID}),
    "call.consult_complete": _request({"call_id": _CALL_ID}),
    "call.consult_cancel": _request({"call_id": _CALL_ID}),
    "ivr.digit": _request({"call_id": _CALL_ID, "digit": _DIGIT}),
    "ivr.choose": _request(
        {
            "call_id": _CALL_ID,
            "node": _NODE,
            "digits": _string(4, pattern=r"^[0-9*#]{1,4}$"),
        }
    ),
    "ivr.callback": _request(
        {"call_id": _CALL_ID, "node": _NODE},
        {
            "number": _string(32),
            "window": _string(32),
            "decline": {"type": "boolean"},
        },
    ),
    "ivr.prompt_done": _request(
        {"call_id": _CALL_ID, "play": {"type": "integer", "minimum": 1}}
    ),
    "call.unreached": _request(
        {"call_id": _CALL_ID, "reason": {"enum": ["no-answer", "busy", "failed"]}}
    ),
    "callback.request": _request(
        {"number": _string(32), "consent": _string(500, minLength=1)},
        {
            "window": _string(32),
            "date": _string(10, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
            "topic": _string(64),
            "visit": _VISIT,
        },
    ),
    "callback.attach": _request(
        {"callback": _CALLBACK_ID, "token": _string(64, minLength=16)}
    ),
    "callback.cancel": _request(
        {"callback": _CALLBACK_ID, "token": _string(64, minLength=16)}
    ),
    "callback.list": _request({}),
    "floor.watch": _request({}),
    "callback.claim": _request({"callback": _CALLBACK_ID}),
    "callback.skip": _request({"callback": _CALLBACK_ID}),
    "callback.outcome": _request(
        {
            "callback": _CALLBACK_ID,
            "outcome": {
                "enum": ["resolved", "not-resolved", "wrong-number", "call-again"]
            },
        },
        {"note": _string(500)},
    ),
}

#: Requests about callbacks (see gateway.callback_service).
CALLBACK_REQUESTS: Final = frozenset(
    name for name in REQUESTS if name.startswith("callback.")
) | {"call.unreached"}

#: What an operator's session may send (besides hello, ping, ice.servers);
#: it places and takes no calls (see gateway.floor).
OPERATOR_REQUESTS: Final = frozenset({"floor.watch"})

#: Requests the IVR of a call answers (see gateway.ivr_calls).
IVR_REQUESTS: Final = frozenset(
    {"ivr.digit", "ivr.choose", "ivr.callback", "ivr.prompt_done"}
)

#: Requests relayed as they are to the other end of a call.
RELAYED: Final = frozenset(
    {"sdp.offer", "sdp.answer", "ice.candidate", "call.mute", "call.dtmf"}
)

_STATES = [
    "ivr",
    "queued",
    "ringing",
    "answered",
    "held",
    "consulting",
    "dialling",
    "ended",
]
#: RTCIceServer dictionaries, as a page hands them to RTCPeerConnection.
_ICE_SERVERS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["urls"],
        "properties": {
            "urls": {"type": "array", "items": {"type": "string"}},
            "username": {"type": "string"},
            "credential": {"type": "string"},
        },
    },
}
_ICE_TTL_S = {"type": "integer", "minimum": 1}
_IN_CALL = {"call_id": _CALL_ID, "node": _NODE}


def _event(fields: dict[str, Any]) -> Any:
    properties = {"type": {"type": "string"}, "seq": {"type": "integer"}, **fields}
    return {"type": "object", "required": ["type"], "properties": properties}


#: The schema of every event the server sends, by ``type`` (documentation
#: and tests; the server builds events itself).
EVENTS: Final[dict[str, Any]] = {
    "welcome": _event(
        {
            "v": {"const": VERSION},
            "session_id": _SESSION_ID,
            "resume_token": {"type": "string"},
            "role": {"enum": list(ROLES)},
            "resumed": {"type": "boolean"},
            "grace_s": {"type": "number"},
            "ice_servers": _ICE_SERVERS,
            "ice_ttl_s": _ICE_TTL_S,
        }
    ),
    "pong": _event({}),
    "ice.servers": _event(
        {
            "ref": {"type": "string"},
            "ice_servers": _ICE_SERVERS,
            "ice_ttl_s": _ICE_TTL_S,
        }
    ),
    "error": _event(
        {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "ref": {"type": "string"},
            "retry_after_s": {"type": "number"},
        }
    ),
    "agent.state": _event(
        {
            "status": {"enum": ["available", "away", "ringing", "busy", "offline"]},
            "reason": {"type": "string"},
            "call_id": _CALL_ID,
        }
    ),
    "call.state": _event(
        {
            "call_id": _CALL_ID,
            "state": {"enum": _STATES},
            "reason": {"type": "string"},
            "position": {"type": "integer", "minimum": 1},
            "estimated_wait_s": {"type": "number", "minimum": 0},
            "caller": _CALLER,
            "agent": {"type": "object"},
            "ring_timeout_s": {"type": "number"},
            "journey": {"type": "object"},
            "transfer": {"enum": ["blind", "attended", "tollfree"]},
            "consult": {"type": "object"},
            "callback": _CALLBACK_ID,
            "attempt": {"type": "integer", "minimum": 1},
            "via": {"enum": ["tab", "trunk"]},
        }
    ),
    "callback.status": _event(
        {
            "callback": _CALLBACK_ID,
            "state": {
                "enum": [
                    "waiting",
                    "offered",
                    "dialling",
                    "connected",
                    "wrap-up",
                    "done",
                    "failed",
                    "cancelled",
                ]
            },
            "due_at": {"type": "number"},
            "when": {"type": "string"},
            "window": {"type": "string"},
            "date": {"type": "string"},
            "attempts": {"type": "integer"},
            "max_attempts": {"type": "integer"},
            "token": {"type": "string"},
            "merged": {"type": "boolean"},
            "outcome": {"type": "string"},
        }
    ),
    "callback.list": _event({"due": {"type": "array"}, "upcoming": {"type": "array"}}),
    "callback.offer": _event(
        {
            "callback": _CALLBACK_ID,
            "due_at": {"type": "number"},
            "topic": {"type": "string"},
            "journey": {"type": "object"},
            "attempts": {"type": "integer"},
            "number_hint": {"type": "string"},
            "offer_timeout_s": {"type": "number"},
        }
    ),
    "agent.list": _event({"agents": {"type": "array"}}),
    "floor": _event(
        {
            "at": {"type": "number"},
            "agents": {"type": "array"},
            "waiting": {"type": "array"},
            "in_progress": {"type": "array"},
            "callbacks": {"type": "object"},
            "workers": {"type": "array"},
        }
    ),
    "ivr.prompt": _event(
        {
            **_IN_CALL,
            "play": {"type": "integer"},
            "text": {"type": "string"},
            "audio": {"type": ["string", "null"]},
            "duration_s": {"type": "number"},
            "interruptible": {"type": "boolean"},
            "faq": {"type": "object"},
        }
    ),
    "ivr.stop_prompt": _event({"call_id": _CALL_ID, "play": {"type": "integer"}}),
    "ivr.menu": _event({**_IN_CALL, "options": {"type": "array"}}),
    "ivr.callback_form": _event(
        {
            **_IN_CALL,
            "windows": {"type": "array"},
            "countries": {"type": "array"},
            "time_zone": {"type": "string"},
        }
    ),
    "ivr.collect": _event(
        {**_IN_CALL, "max_digits": {"type": "integer"}, "terminator": {}}
    ),
    "ivr.callback_refused": _event(
        {
            **_IN_CALL,
            "code": {"const": "callback-limit"},
            "limit": {"enum": ["number-limit", "day-limit", "address-limit"]},
            "message": {"type": "string"},
        }
    ),
    "ivr.callback_requested": _event(
        {"call_id": _CALL_ID, "window": {"type": ["string", "null"]}}
    ),
    "ivr.tollfree": _event(
        {
            "call_id": _CALL_ID,
            "node": {"type": "string"},
            "number": {"type": "string"},
            "bridged": {"type": "boolean"},
        }
    ),
}

_VALIDATORS: Final = {
    name: Draft202012Validator(schema) for name, schema in REQUESTS.items()
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_request(text: str) -> Message:
    """Decode and validate one frame; raise :class:`ProtocolError` if unfit."""
    message = _decode_one_object(text)
    ref = message.get("id") if isinstance(message.get("id"), str) else None
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(
            "invalid-message", "every message needs a string field 'type'", ref
        )

    validator = _VALIDATORS.get(kind)
    if validator is None:
        raise ProtocolError("unknown-type", f"there is no message type {kind!r}", ref)

    error = next(iter(validator.iter_errors(message)), None)
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or kind
        raise ProtocolError("invalid-message", f"{where}: {error.message}", ref)
    return message


def _decode_one_object(text: str) -> Message:
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    stripped = text.lstrip()
    try:
        value, end = decoder.raw_decode(stripped)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(
            "invalid-json", f"the frame is not valid JSON: {exc}"
        ) from None

    if stripped[end:].strip():
        raise ProtocolError(
            "invalid-json",
            "send exactly one JSON object per frame; more data follows "
            f"the first object at character {end}",
        )
    if not isinstance(value, dict):
        raise ProtocolError(
            "invalid-json",
            f"a frame must hold a JSON object, not a {type(value).__name__}",
        )
    return value


def encode(event: Message) -> str:
    """Serialize an event compactly; the server never sends NaN."""
    return json.dumps(event, separators=(",", ":"), allow_nan=False)


def json_schema() -> dict[str, Any]:
    """Every request and event schema, as served at ``/api/protocol.json``."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Helpline signaling protocol",
        "version": VERSION,
        "max_frame_bytes": MAX_FRAME_BYTES,
        "requests": REQUESTS,
        "events": EVENTS,
    }
