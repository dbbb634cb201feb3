"""Flow control: the ``flow``/``flow_ack`` messages, their accounting, and the server's pump.

The server tests use a real server and real child processes over aiohttp's WebSocket
client; the client acknowledges lazily, so without flow control the server would send
more than one window ahead and the invariant checks would fail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from support.wire import start_bytes
from wsep_protocol import (
    SUBPROTOCOL_V2,
    CloseCode,
    Command,
    Connection,
    Flow,
    FlowAck,
    FlowWindow,
    LocalProtocolError,
    MalformedMessage,
    ProtocolVersion,
    ProtocolViolation,
    Role,
    Start,
    decode,
    encode,
)
from wsep_protocol.flow import MAX_COUNT, MAX_WINDOW
from wsep_server.flow import OutputGate

TIMEOUT = 30.0

# --- the messages ---------------------------------------------------------------------------


def test_messages_round_trip() -> None:
    assert encode(Flow(262144)) == b'{"type":"flow","window":262144}\n'
    assert encode(FlowAck(7)) == b'{"type":"flow_ack","consumed":7}\n'
    assert decode(b'{"type":"flow","window":0}') == Flow(0)
    assert decode(b'{"type":"flow_ack","consumed":9007199254740991}\n') == FlowAck(MAX_COUNT)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type":"flow"}',
        b'{"type":"flow","window":"1"}',
        b'{"type":"flow","window":true}',
        b'{"type":"flow","window":-1}',
        b'{"type":"flow","window":%d}' % (MAX_WINDOW + 1),
        b'{"type":"flow_ack","consumed":1.5}',
        b'{"type":"flow_ack","consumed":%d}' % (MAX_COUNT + 1),
    ],
)
def test_malformed_messages_are_rejected(raw: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode(raw)


def test_flow_is_v2_only() -> None:
    v1 = Connection(Role.CLIENT, ProtocolVersion.V1)
    v1.send(Start(Command("x")))
    with pytest.raises(LocalProtocolError):
        v1.send(Flow(1024))
    server = Connection(Role.SERVER, ProtocolVersion.V1)
    server.receive(encode(Start(Command("x"))))
    assert server.receive(encode(FlowAck(0))) is None  # unknown to v1: ignored
    v2 = Connection(Role.SERVER, ProtocolVersion.V2)
    v2.receive(encode(Start(Command("x"))))
    assert v2.receive(encode(Flow(1024))) == Flow(1024)


# --- the accounting -------------------------------------------------------------------------


def test_window_accounting() -> None:
    w = FlowWindow()
    assert not w.enabled
    assert w.credit() is None
    assert w.reserve(5000, "out") == 5000  # off: no limit
    w.commit("out", 5000)
    assert not w.receive(Start(Command("x")))
    assert w.receive(Flow(8000))
    assert w.credit() == 8000 - 5000
    assert w.reserve(10_000, "out") == 3000
    with pytest.raises(ValueError, match="already holds"):
        w.reserve(1, "out")
    assert w.credit() == 0
    assert w.reserve(1, "err") == 0
    w.commit("err", 0)  # nothing held: nothing to give back
    w.commit("out", 1000)  # 2000 of the reservation come back
    assert w.credit() == 2000
    assert w.receive(FlowAck(4000))
    assert w.credit() == 8000 - (6000 - 4000)
    assert w.reserve(100_000, "out") == 4000, "one reservation is at most half the window"
    w.commit("out", 0)
    assert w.receive(FlowAck(1000))  # an older count changes nothing
    assert w.consumed == 4000
    with pytest.raises(ProtocolViolation, match="only 6000 were sent"):
        w.receive(FlowAck(6001))
    w.reserve(10, "out")
    with pytest.raises(ValueError, match="cannot commit"):
        w.commit("out", 11)
    assert w.receive(Flow(0))
    assert w.credit() is None


def test_reservation_from_before_the_window_does_not_block_later_ones() -> None:
    """An idle stream that reserved while flow control was off holds no credit."""
    w = FlowWindow()
    assert w.reserve(1 << 20, "stderr") == 1 << 20  # then waits for data that never comes
    w.receive(Flow(1000))
    assert w.reserved == 0
    assert w.reserve(10_000, "stdout") == 500
    w.commit("stdout", 500)
    w.commit("stderr", 70_000)  # unmetered: sent even though it exceeds the window
    assert w.sent == 70_500
    assert w.credit() == 0
    w.receive(FlowAck(70_500))
    assert w.credit() == 1000


async def test_gate_waits_for_credit_and_wakes_on_ack_or_release() -> None:
    gate = OutputGate()
    gate.receive(Flow(100))
    assert await gate.reserve(80, "a") == 50
    other = asyncio.ensure_future(gate.reserve(80, "b"))
    assert await gate.reserve(0, "c") == 0
    assert await asyncio.wait_for(other, TIMEOUT) == 50
    gate.commit("a", 50)
    third = asyncio.ensure_future(gate.reserve(10, "a"))
    await asyncio.sleep(0)
    assert not third.done(), "the window is full"
    gate.commit("b", 20)  # a short read gives credit back
    assert await asyncio.wait_for(third, TIMEOUT) == 10
    gate.commit("a", 10)
    assert await gate.reserve(30, "a") == 20
    gate.commit("a", 20)  # 100 sent, none acknowledged
    blocked = asyncio.ensure_future(gate.reserve(10, "a"))
    await asyncio.sleep(0)
    assert not blocked.done()
    assert not gate.receive("not a flow message")
    gate.receive(FlowAck(30))
    assert await asyncio.wait_for(blocked, TIMEOUT) == 10
    assert not gate.closed
    gate.close()
    assert gate.closed
    assert await gate.reserve(10**6, "b") == 10**6


# --- the server -----------------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def ws(
    make_server: Any, http: aiohttp.ClientSession
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A v2 connection to a fresh server."""
    url = await make_server()
    async with http.ws_connect(url, protocols=(SUBPROTOCOL_V2,)) as ws:
        yield ws


def start_message(*argv: str, tty: bool = False, stdin: bool = False) -> bytes:
    return start_bytes(*argv, stdin=stdin, tty=tty, rows=24, cols=80)


#: The child waits for this line, so the server has the window before any output.
GO = b'{"type":"stdin"}\ngo\n'


async def start_in_window(ws: aiohttp.ClientWebSocketResponse, window: int, start: bytes) -> None:
    """Start a child that waits for GO, give the window, then GO: all output is windowed."""
    await ws.send_bytes(start)
    await ws.send_bytes(encode(Flow(window)))
    await ws.send_bytes(GO)


async def receive(ws: aiohttp.ClientWebSocketResponse) -> tuple[dict[str, Any], bytes]:
    msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
    assert msg.type is aiohttp.WSMsgType.BINARY, msg
    head, _, body = bytes(msg.data).partition(b"\n")
    return json.loads(head), body


async def drain_lazily(
    ws: aiohttp.ClientWebSocketResponse, window: int, *, unmetered: int = 0
) -> tuple[dict[str, int], dict[str, Any]]:
    """Read to the exit, acknowledging only when a whole window is outstanding.

    Asserts on every message (after the first ``unmetered`` ones) that the server
    never ran more than ``window`` ahead.
    """
    received = {"stdout": 0, "stderr": 0}
    acked = 0
    seen = 0
    while True:
        head, body = await receive(ws)
        kind = head["type"]
        if kind == "exit_code":
            return received, head
        if kind not in received:
            continue
        received[kind] += len(body)
        total = received["stdout"] + received["stderr"]
        seen += 1
        if seen <= unmetered:
            acked = total
            await ws.send_bytes(encode(FlowAck(acked)))
            continue
        assert total - acked <= window, f"{total - acked} bytes outstanding, window {window}"
        if total - acked == window:
            acked = total
            await ws.send_bytes(encode(FlowAck(acked)))


@pytest.mark.parametrize(
    ("script", "streams"),
    [
        ("read x; head -c 600000 /dev/zero", {"stdout": 600000, "stderr": 0}),
        ("read x; head -c 300000 /dev/zero >&2", {"stdout": 0, "stderr": 300000}),
        (
            "read x; head -c 200000 /dev/zero & head -c 200000 /dev/zero >&2; wait",
            {"stdout": 200000, "stderr": 200000},
        ),
    ],
    ids=["stdout", "stderr-only", "both"],
)
async def test_server_keeps_within_the_window(
    ws: aiohttp.ClientWebSocketResponse, script: str, streams: dict[str, int]
) -> None:
    window = 32 * 1024
    assert ws.protocol == SUBPROTOCOL_V2
    await start_in_window(ws, window, start_message("sh", "-c", script, stdin=True))
    received, exit_head = await drain_lazily(ws, window)
    assert received == streams
    assert exit_head["exit_code"] == 0


async def test_tty_output_pauses_and_ctrl_c_still_works(
    ws: aiohttp.ClientWebSocketResponse,
) -> None:
    """With the window full and no ack, the child blocks; input still reaches the TTY."""
    window = 16 * 1024
    await start_in_window(ws, window, start_message("sh", "-c", "read x; exec yes", tty=True))
    head, _ = await receive(ws)
    assert head["type"] == "pid"
    total = 0
    while total < window:
        head, body = await receive(ws)
        total += len(body)
    assert total == window, "never more than the window without an ack"
    await ws.send_bytes(b'{"type":"stdin"}\n\x03')
    await ws.send_bytes(encode(FlowAck(total)))
    # What `yes` wrote before the signal landed may exceed one more window
    # (the TTY queues it), so keep acknowledging as a real client would.
    after = 0
    while True:
        head, body = await receive(ws)
        if head["type"] == "exit_code":
            break
        after += len(body)
        total += len(body)
        await ws.send_bytes(encode(FlowAck(total)))
    # What was still queued in the TTY is bounded; then `yes` died of SIGINT.
    assert after <= 1024 * 1024, f"{after} bytes after Ctrl-C"
    assert head["signal"] == "SIGINT"


async def test_ack_beyond_what_was_sent_is_a_protocol_error(
    ws: aiohttp.ClientWebSocketResponse,
) -> None:
    await ws.send_bytes(start_message("sleep", "30"))
    await ws.send_bytes(encode(Flow(1024)))
    head, _ = await receive(ws)
    assert head["type"] == "pid"
    await ws.send_bytes(encode(FlowAck(10)))
    head, _ = await receive(ws)
    assert head["type"] == "error"
    assert head["code"] == "protocol_violation"
    msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
    assert msg.type is aiohttp.WSMsgType.CLOSE
    assert msg.data == CloseCode.PROTOCOL_ERROR


async def test_v1_connection_ignores_flow_messages(
    make_server: Any, http: aiohttp.ClientSession
) -> None:
    url = await make_server()
    async with http.ws_connect(url) as ws:
        assert ws.protocol is None
        await ws.send_bytes(start_message("head", "-c", "100000", "/dev/zero"))
        await ws.send_bytes(b'{"type":"flow","window":1024}\n')
        total = 0
        while True:
            head, body = await receive(ws)
            if head["type"] == "exit_code":
                break
            total += len(body)
    assert total == 100000


class _PlainReader:
    """Only ``read(n)``: makes the pump take its general path (as session attachments do)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def read(self, n: int = -1) -> bytes:
        return bytes(await self._inner.read(n))


class _PlainProcess:
    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.stdout = _PlainReader(inner.stdout)
        self.stderr = _PlainReader(inner.stderr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _PlainExecer:
    def __init__(self) -> None:
        from wsep_server.local import LocalExecer

        self._inner = LocalExecer(grace_period=2.0, output_linger=0.5)

    async def start(self, command: Command) -> _PlainProcess:
        return _PlainProcess(await self._inner.start(command))


async def test_server_keeps_within_the_window_with_plain_readers(
    make_server: Any, http: aiohttp.ClientSession
) -> None:
    url = await make_server(execer=_PlainExecer())
    window = 32 * 1024
    async with http.ws_connect(url, protocols=(SUBPROTOCOL_V2,)) as ws:
        await start_in_window(
            ws,
            window,
            start_message("sh", "-c", "read x; head -c 300000 /dev/zero >&2", stdin=True),
        )
        received, exit_head = await drain_lazily(ws, window)
    assert received == {"stdout": 0, "stderr": 300000}
    assert exit_head["exit_code"] == 0


async def test_window_arriving_after_the_readers_started(
    ws: aiohttp.ClientWebSocketResponse,
) -> None:
    """Readers that reserved before ``flow`` (an idle stderr) must not block stdout."""
    window = 32 * 1024
    await ws.send_bytes(start_message("sh", "-c", "read x; head -c 400000 /dev/zero", stdin=True))
    head, _ = await receive(ws)
    assert head["type"] == "pid"  # the pump runs: both readers wait for data
    await ws.send_bytes(encode(Flow(window)))
    await ws.send_bytes(GO)
    # stdout's first read was reserved before the window: it may exceed it once.
    received, exit_head = await drain_lazily(ws, window, unmetered=1)
    assert received == {"stdout": 400000, "stderr": 0}
    assert exit_head["exit_code"] == 0
