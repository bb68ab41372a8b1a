"""Bad input over a real socket: a clear error, the socket and the session
stay up, and nothing about the session changes."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.cases import case_json_lines, case_sdp, case_text
from tests.fixtures.app import ClientFactory, RunningHelpline, WsClient
from tests.test_signaling import CANDIDATE, agent, connect_call, customer, place

TWO_OBJECTS = case_text("23-websocket-frame-with-two-json-objects")


async def still_up(client: WsClient) -> None:
    """The socket answers, and the session is the same one."""
    await client.send({"type": "ping", "id": "p"})
    await client.expect("pong")
    assert not client.ws.closed


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (TWO_OBJECTS, "invalid-json"),
        ('{"type":"ping"', "invalid-json"),
        ('[{"type":"ping"}]', "invalid-json"),
        ('"ping"', "invalid-json"),
        (" " * 60_000, "invalid-json"),
        ('{"type":"teleport"}', "unknown-type"),
        ('{"type":"call.hangup"}', "invalid-message"),
        ('{"type":"hello","v":2,"role":"customer"}', "unsupported-version"),
        ('{"type":"hello","v":1,"role":"customer"}', "already-open"),
        ('{"type":"call.accept","call_id":"c-00000000"}', "not-allowed"),
        ('{"type":"call.hangup","call_id":"c-00000000"}', "unknown-call"),
        ('{"type":"agent.status","status":"away"}', "not-allowed"),
    ],
)
async def test_bad_frames_keep_the_call(
    helpline: RunningHelpline, ws_clients: ClientFactory, frame: str, code: str
) -> None:
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada)

    await ada.ws.send_str(frame)
    error = await ada.expect("error")
    assert error["code"] == code
    assert error["message"]
    await still_up(ada)

    # The session and its call are unchanged: hang-up still works on it.
    await ada.send({"type": "call.hangup", "call_id": call_id})
    assert (await ada.call_state("ended"))["reason"] == "customer-hangup"


async def test_case_23_replies_once_and_executes_neither(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada = await customer(helpline, ws_clients)
    await ada.ws.send_str('{"type":"ping","id":"a"}{"type":"call.place","id":"b"}')
    error = await ada.expect("error")
    assert error["code"] == "invalid-json"
    await still_up(ada)
    assert not any(e.get("type") == "call.state" for e in ada.received)
    assert [e["type"] for e in ada.received] == ["welcome", "error", "pong"]


async def test_request_before_hello(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    raw = await ws_clients(helpline.ws_url)
    await raw.send({"type": "call.place"})
    assert (await raw.expect("error"))["code"] == "no-session"
    await raw.send({"type": "hello", "v": 1, "role": "customer"})
    await raw.expect("welcome")


async def test_bad_agent_token(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    raw = await ws_clients(helpline.ws_url)
    await raw.send({"type": "hello", "v": 1, "role": "agent", "token": "x" * 30})
    assert (await raw.expect("error"))["code"] == "unauthorized"
    await still_up(raw)


async def test_oversized_frame_closes_with_1009(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada = await customer(helpline, ws_clients)
    await ada.ws.send_str("x" * 70_000)
    message = await ada.ws.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert message.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_four_megabytes_of_whitespace_end_only_that_socket(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada = await customer(helpline, ws_clients)
    try:
        await ada.ws.send_str(" " * (4 * 1024 * 1024))
        message = await ada.ws.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    except ConnectionError:
        pass  # the server closed while the frame was still being written
    other = await customer(helpline, ws_clients, "Other")
    await still_up(other)


async def test_invalid_utf8_closes_with_1007(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada = await customer(helpline, ws_clients)
    # A text frame whose payload is not UTF-8 (0xff never is).
    await ada.ws._writer.send_frame(b'{"type":"ping\xff"}', aiohttp.WSMsgType.TEXT)
    message = await ada.ws.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert message.data == aiohttp.WSCloseCode.INVALID_TEXT


async def test_binary_frame_is_an_error(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada = await customer(helpline, ws_clients)
    await ada.ws.send_bytes(b"\x00\x01")
    assert (await ada.expect("error"))["code"] == "invalid-json"
    await still_up(ada)


async def test_out_of_order_requests_get_bad_state(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    grace = await agent(helpline, ws_clients, "Grace")
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada)
    await grace.call_state("ringing")

    await grace.send({"type": "call.hold", "call_id": call_id, "on": True})
    assert (await grace.expect("error"))["code"] == "bad-state"
    await ada.send({"type": "call.place"})
    assert (await ada.expect("error"))["code"] == "bad-state"
    await grace.send({"type": "agent.status", "status": "away"})
    assert (await grace.expect("error"))["code"] == "bad-state"

    await grace.send({"type": "call.accept", "call_id": call_id})
    await ada.call_state("answered")
    await grace.send({"type": "call.accept", "call_id": call_id})
    assert (await grace.expect("error"))["code"] == "bad-state"


async def test_bad_sdp_and_candidates_are_refused_not_relayed(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    grace = await agent(helpline, ws_clients, "Grace")
    ada = await customer(helpline, ws_clients)
    call_id = await connect_call(grace, ada)

    nul = case_sdp("10-sdp-attribute-name-with-nul-byte")
    await ada.send({"type": "sdp.offer", "call_id": call_id, "sdp": nul})
    error = await ada.expect("error")
    assert error["code"] == "invalid-sdp" and "line" in error["message"]
    bad = {**CANDIDATE, "candidate": "candidate:1 1 udp 1 127.0.0.1 99999 typ host"}
    await ada.send({"type": "ice.candidate", "call_id": call_id, "candidate": bad})
    assert (await ada.expect("error"))["code"] == "invalid-candidate"

    # Case 02: Firefox's end-of-candidates marker passes as it is.
    for candidate in case_json_lines("02-firefox-end-of-candidates-marker"):
        await ada.send(
            {"type": "ice.candidate", "call_id": call_id, "candidate": candidate}
        )
    relayed = [await grace.expect("ice.candidate") for _ in range(3)]
    assert [r["candidate"]["candidate"] for r in relayed][1] == ""
    assert not any(e.get("type") == "sdp.offer" for e in grace.received)


async def test_customer_sessions_are_rate_limited_per_address(
    helpline_factory: object, ws_clients: ClientFactory
) -> None:
    node = await helpline_factory(customer_sessions_per_minute=3)  # type: ignore[operator]
    for _ in range(3):
        await customer(node, ws_clients)
    extra = await ws_clients(node.ws_url)
    await extra.send({"type": "hello", "v": 1, "role": "customer"})
    error = await extra.expect("error")
    assert error["code"] == "rate-limited" and error["retry_after_s"] > 0
    closing = await extra.ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert closing.data == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_message_flood_is_rate_limited_and_recovers(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada = await customer(helpline, ws_clients)
    for i in range(150):
        await ada.ws.send_str(f'{{"type":"ping","id":"{i}"}}')
    codes = []
    for _ in range(150):
        event = await ada.expect(lambda e: e["type"] in ("pong", "error"))
        codes.append(event.get("code", "pong"))
    assert "rate-limited" in codes and codes.count("pong") >= 90
    limited = next(e for e in ada.received if e.get("code") == "rate-limited")
    assert limited["retry_after_s"] > 0
    await asyncio.sleep(limited["retry_after_s"])
    await still_up(ada)
