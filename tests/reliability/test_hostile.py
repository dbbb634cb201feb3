"""Hostile input over a real server, table-driven: each case gets its defined answer.

Every case runs against a fresh in-process server while a control client keeps
making round trips (before, during, after); the server must keep serving it
(only a very generous bound is asserted: timing is reported, not tested) and
leave no process behind. The answers: malformed or out-of-range input gets
close 1002 with a reason naming the problem, invalid UTF-8 1007, oversized
input 1009; legal framing variants (text, fragments, interleaved pings) work;
input after the exit is ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from support import scaled
from support.rawws import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    HandshakeError,
    RawWebSocket,
    build_frame,
)
from support.reliability import LatencyProbe, Serve, record
from support.wire import collect, expect_close, header, pid_of, port_of, start_bytes
from wsep_protocol import SUBPROTOCOL_V2

#: The server's receive limit in these tests (small, so the 1009 case is cheap).
MAX_RECEIVE = 2 * 1024 * 1024
#: Very generous: a control round trip on a loaded CI machine; timing is reported, not tested.
LATENCY_BOUND = 20.0


def start_json(**command: object) -> bytes:
    return json.dumps({"type": "start", "command": command}).encode()


def raw_start(text: str) -> bytes:
    return ('{"type":"start","command":' + text + "}").encode()


async def refused(
    url: str,
    payload: bytes | str,
    code: int,
    reason: str,
    *,
    v2: bool = False,
) -> None:
    """One message, then the close ``code`` whose reason contains ``reason``."""
    ws = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2] if v2 else [])
    try:
        await ws.send_message(payload)
        got = await expect_close(ws)
    finally:
        await ws.aclose()
    assert got[0] == code, got
    assert reason.lower() in got[1].lower(), got


async def raw_refused(url: str, data: bytes, code: int, reason: str) -> None:
    """Raw bytes on the wire (frames built by hand), then the close ``code``."""
    ws = await RawWebSocket.connect(url)
    try:
        await ws.send_raw(data)
        got = await expect_close(ws)
    finally:
        await ws.aclose()
    assert got[0] == code, got
    assert reason.lower() in got[1].lower(), got


async def works(url: str, send: Callable[[RawWebSocket], Awaitable[None]]) -> None:
    """``send`` delivers a start of ``echo hostile``: it must run and exit 0."""
    ws = await RawWebSocket.connect(url)
    try:
        await send(ws)
        res = await asyncio.wait_for(collect(ws), 30)
    finally:
        await ws.aclose()
    assert res.stdout == b"hostile\n", res
    assert (res.exit or {}).get("exit_code") == 0, res
    assert res.types[-1] == "exit_code"


ECHO = start_bytes("echo", "hostile")


# --- framing variants that must work ----------------------------------------------------


async def send_text(ws: RawWebSocket) -> None:
    await ws.send_message(ECHO.decode())


async def send_binary(ws: RawWebSocket) -> None:
    await ws.send_message(ECHO)


async def send_fragmented(ws: RawWebSocket) -> None:
    await ws.send_message(ECHO, fragments=7)


async def send_empty_continuations(ws: RawWebSocket) -> None:
    frames = build_frame(OP_BINARY, ECHO[:10], fin=False)
    frames += b"".join(build_frame(OP_CONT, b"", fin=False) for _ in range(3))
    frames += build_frame(OP_CONT, ECHO[10:], fin=False) + build_frame(OP_CONT, b"", fin=True)
    await ws.send_raw(frames)


async def send_with_interleaved_ping(ws: RawWebSocket) -> None:
    frames = build_frame(OP_TEXT, ECHO[:5], fin=False) + build_frame(OP_PING, b"mid")
    frames += build_frame(OP_CONT, ECHO[5:], fin=True)
    await ws.send_raw(frames)


async def send_after_unknown_types(ws: RawWebSocket) -> None:
    await ws.send_message(b'{"type":"future_extension","x":[1,2,3]}')
    await ws.send_message(b'{"type":"flow_ack_maybe"}\nbody')
    await ws.send_message(ECHO)


# --- cases with a whole script -------------------------------------------------------------


async def ping_flood(url: str) -> None:
    """Thousands of pings while a process runs: each gets its pong, the output is intact."""
    n = scaled(2_000, 50_000)
    ws = await RawWebSocket.connect(url)
    try:
        await ws.send_message(start_bytes("cat", stdin=True))
        await pid_of(ws)
        await ws.send_raw(b"".join(build_frame(OP_PING, b"%d" % i) for i in range(n)))
        await ws.send_message(b'{"type":"stdin"}\nafter the flood')
        await ws.send_message(b'{"type":"close_stdin"}\n')
        pongs, out, last = 0, b"", ""
        while True:
            frame = await ws.recv_frame()
            if frame.opcode == OP_PONG:
                pongs += 1
                continue
            if frame.opcode == OP_CLOSE:
                break
            head = header(frame.payload)
            last = str(head["type"])
            if last == "stdout":
                out += frame.payload.partition(b"\n")[2]
            if last == "exit_code":
                await ws.close(1000)
    finally:
        await ws.aclose()
    assert (pongs, out, last) == (n, b"after the flood", "exit_code")


async def after_exit(url: str) -> None:
    """Input after ``exit_code`` (stdin, resize, close_stdin, unknown) is ignored."""
    ws = await RawWebSocket.connect(url)
    try:
        await ws.send_message(start_bytes("true", stdin=True))
        await pid_of(ws)
        _opcode, msg = await ws.recv_message()
        assert header(msg)["type"] == "exit_code"
        for late in (
            b'{"type":"stdin"}\nlate',
            b'{"type":"resize","rows":10,"cols":10}',
            b'{"type":"close_stdin"}\n',
            b'{"type":"whatever"}',
        ):
            await ws.send_message(late)
        await ws.close(1000, "bye")
        assert await ws.recv_close() == (1000, "bye")
    finally:
        await ws.aclose()


async def close_mid_start(url: str) -> None:
    """``start`` and a close frame in one write: the close is echoed, nothing is left."""
    ws = await RawWebSocket.connect(url)
    try:
        await ws.send_raw(
            build_frame(OP_BINARY, start_bytes("sleep", "30"))
            + build_frame(OP_CLOSE, struct.pack("!H", 1001) + b"leaving")
        )
        code, reason = await ws.recv_close()
        assert (code, reason) == (1001, "leaving")
    finally:
        await ws.aclose()


async def drop_mid_start(url: str) -> None:
    """``start`` then a TCP reset at once: the process (if it started) is ended."""
    for _ in range(5):
        ws = await RawWebSocket.connect(url)
        await ws.send_message(start_bytes("sleep", "30"))
        ws.abort()


async def v2_error_then_close(url: str) -> None:
    """v2: a malformed message gets an ``error`` message naming it, then close 1002."""
    ws = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2])
    try:
        await ws.send_message(b"{not json")
        _opcode, msg = await ws.recv_message()
        head = header(msg)
        assert (head["type"], head["code"], head["close_code"]) == (
            "error",
            "malformed_message",
            1002,
        )
        assert (await expect_close(ws))[0] == 1002
    finally:
        await ws.aclose()


async def not_websocket(url: str) -> None:
    """Plain HTTP on the WebSocket path: 426 with a hint, and the server goes on."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    assert data.startswith(b"HTTP/1.1 426"), data[:100]


async def bad_ws_version(url: str) -> None:
    """An upgrade with a WebSocket version the server does not speak gets a 4xx."""
    request = (
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n"
    )
    with pytest.raises(HandshakeError) as info:
        await RawWebSocket.connect(url, raw_request=request.encode())
    assert 400 <= info.value.status < 500


async def huge_stdin_then_exit(url: str) -> None:
    """A megabyte of stdin in one fragmented message to a process that ignores it."""
    ws = await RawWebSocket.connect(url)
    try:
        await ws.send_message(start_bytes("true", stdin=True))
        await pid_of(ws)
        await ws.send_message(b'{"type":"stdin"}\n' + b"x" * 1_000_000, fragments=50)
        res = await asyncio.wait_for(collect(ws), 30)
    finally:
        await ws.aclose()
    assert (res.exit or {}).get("exit_code") == 0


async def stdin_flood(url: str) -> None:
    """Megabytes of stdin to a process that never reads it, then a TCP drop.

    The server stops reading (backpressure) instead of buffering; the drop still
    ends the process (checked by the leak fixture).
    """
    ws = await RawWebSocket.connect(url)
    await ws.send_message(start_bytes("sleep", "600", stdin=True))
    await pid_of(ws)
    chunk = b'{"type":"stdin"}\n' + b"z" * 65_000
    sent = 0
    try:
        for _ in range(300):  # ~20 MB; the pipe and socket buffers hold far less
            await asyncio.wait_for(ws.send_message(chunk), 2)
            sent += 1
    except asyncio.TimeoutError:
        pass
    ws.abort()
    assert sent < 300, "the server buffered everything instead of pushing back"


async def stopped_then_closed(url: str) -> None:
    """v2: SIGSTOP the process, then close: the stopped process is still ended."""
    ws = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2])
    try:
        await ws.send_message(start_bytes("sleep", "600"))
        await pid_of(ws)
        await ws.send_message(b'{"type":"signal","signal":"SIGSTOP"}\n')
        await ws.close(1000, "bye")
        assert await ws.recv_close() == (1000, "bye")
    finally:
        await ws.aclose()


async def resize_flood(url: str) -> None:
    """Thousands of resizes to a TTY process; the last one wins."""
    ws = await RawWebSocket.connect(url)
    try:
        await ws.send_message(start_bytes("sh", "-c", "read x; stty size", tty=True, stdin=True))
        await pid_of(ws)
        frames = b"".join(
            build_frame(OP_BINARY, b'{"type":"resize","rows":%d,"cols":%d}' % (10 + i % 50, 20))
            for i in range(scaled(2_000, 20_000))
        )
        await ws.send_raw(frames + build_frame(OP_BINARY, b'{"type":"resize","rows":7,"cols":9}'))
        await ws.send_message(b'{"type":"stdin"}\ngo\n')
        res = await asyncio.wait_for(collect(ws), 60)
    finally:
        await ws.aclose()
    assert res.stdout.endswith(b"7 9\r\n"), res.stdout[-50:]


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[str], Awaitable[None]]


def r(name: str, payload: bytes | str, code: int, reason: str, *, v2: bool = False) -> Case:
    return Case(name, lambda url: refused(url, payload, code, reason, v2=v2))


def raw(name: str, data: bytes, code: int, reason: str) -> Case:
    return Case(name, lambda url: raw_refused(url, data, code, reason))


def ok(name: str, send: Callable[[RawWebSocket], Awaitable[None]]) -> Case:
    return Case(name, lambda url: works(url, send))


START_THEN = start_bytes("cat", stdin=True)

CASES = [
    # malformed JSON and wrong types
    r("malformed_json", b'{"type":"start",', 1002, "JSON"),
    r("json_not_object", b"[1, 2, 3]", 1002, "object"),
    r("json_no_type", b'{"command":{"command":"true"}}', 1002, "no type"),
    r("type_not_string", b'{"type":7}', 1002, "type must be a string"),
    r("start_without_command", b'{"type":"start"}', 1002, "without command"),
    r("command_not_object", raw_start('"ls"'), 1002, "must be an object"),
    r("command_name_not_string", raw_start('{"command":5}'), 1002, "must be a string"),
    r("args_not_a_list", start_json(command="echo", args="a b"), 1002, "list of strings"),
    r("args_item_not_string", start_json(command="echo", args=[1]), 1002, "list of strings"),
    r("tty_not_boolean", start_json(command="true", tty="yes"), 1002, "boolean"),
    r("env_not_key_value", start_json(command="true", env=["NOPE"]), 1002, "KEY=VALUE"),
    # huge, negative, NaN and fractional numbers
    r("huge_rows", raw_start('{"command":"true","rows":1' + "0" * 40 + "}"), 1002, "range"),
    r("huge_float_rows", raw_start('{"command":"true","rows":1e999}'), 1002, "integer"),
    r("negative_rows", start_json(command="true", rows=-1), 1002, "range"),
    r("negative_uid", start_json(command="true", uid=-5), 1002, "range"),
    r("uid_over_uint32", start_json(command="true", uid=2**32), 1002, "range"),
    r("nan_cols", raw_start('{"command":"true","cols":NaN}'), 1002, "JSON"),
    r("infinity_cols", raw_start('{"command":"true","cols":-Infinity}'), 1002, "JSON"),
    r("fractional_rows", start_json(command="true", rows=24.5), 1002, "integer"),
    r("huge_resize", b'{"type":"resize","rows":99999999999,"cols":1}', 1002, "range"),
    # nesting and size
    r("deeply_nested_json", raw_start("[" * 30_000 + "]" * 30_000), 1002, "nested"),
    r("one_mib_header", b'{"type":"start","x":"' + b"a" * (1 << 20) + b'"}', 1009, "header"),
    r("over_receive_limit", b'{"type":"stdin"}\n' + b"x" * MAX_RECEIVE, 1009, "too big"),
    raw("declared_length_2_62", build_frame(OP_BINARY, b"", declared_length=1 << 62), 1009, ""),
    # encodings and NUL bytes
    r("invalid_utf8_binary_header", b'{"type":"start\xff"}', 1007, "UTF-8"),
    raw("invalid_utf8_text_frame", build_frame(OP_TEXT, b'{"type":"\xc3\x28"}'), 1007, "UTF-8"),
    r("lone_surrogate_escape", raw_start('{"command":"\\ud800"}'), 1002, "unicode"),
    r("nul_in_command", start_json(command="echo\x00rm"), 1002, "NUL"),
    r("nul_in_args", start_json(command="echo", args=["a\x00b"]), 1002, "NUL"),
    r("nul_in_env", start_json(command="true", env=["A=b\x00c"]), 1002, "NUL"),
    r("nul_in_working_dir", start_json(command="true", working_dir="/tmp\x00x"), 1002, "NUL"),
    r("empty_command", start_json(command=""), 1002, "empty"),
    r("start_with_body", ECHO + b"\nbody", 1002, "body"),
    # messages in the wrong state or direction
    r("server_message_from_client", b'{"type":"pid","pid":1}\n', 1002, "server message"),
    r("stdin_before_start", b'{"type":"stdin"}\nabc', 1002, "before start"),
    r("close_stdin_before_start", b'{"type":"close_stdin"}\n', 1002, "before start"),
    r("bad_signal_name_v2", b'{"type":"signal","signal":"SIGNOPE"}', 1002, "signal", v2=True),
    Case("v2_error_message_then_close", v2_error_then_close),
    # frame-level violations
    raw("continuation_without_start", build_frame(OP_CONT, b"x"), 1002, "continuation"),
    raw("reserved_bits", build_frame(OP_BINARY, b"x", rsv1=True), 1002, "reserved"),
    raw("reserved_opcode", build_frame(0x3, b"x"), 1002, ""),
    raw("fragmented_ping", build_frame(OP_PING, b"x", fin=False), 1002, ""),
    raw("ping_over_125_bytes", build_frame(OP_PING, b"p" * 126), 1002, ""),
    raw("close_code_out_of_range", build_frame(OP_CLOSE, struct.pack("!H", 999)), 1002, ""),
    # legal framing that must work
    ok("start_in_text_frame", send_text),
    ok("start_in_binary_frame", send_binary),
    ok("fragmented_start", send_fragmented),
    ok("empty_continuation_frames", send_empty_continuations),
    ok("ping_inside_fragmented_message", send_with_interleaved_ping),
    ok("unknown_types_ignored", send_after_unknown_types),
    Case("ping_flood", ping_flood),
    Case("messages_after_exit", after_exit),
    Case("close_in_the_middle_of_start", close_mid_start),
    Case("drop_in_the_middle_of_start", drop_mid_start),
    Case("huge_fragmented_stdin", huge_stdin_then_exit),
    Case("stdin_flood_to_a_non_reader", stdin_flood),
    Case("stopped_process_then_close", stopped_then_closed),
    Case("resize_flood", resize_flood),
    Case("plain_http_gets_426", not_websocket),
    Case("bad_websocket_version", bad_ws_version),
]

# The brief asks for at least 30 distinct cases.
assert len(CASES) >= 30
assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_hostile_input(
    no_leaked_children: None, serve: Serve, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    from wsep_server import ServerConfig

    caplog.set_level(logging.WARNING, logger="wsep_server")
    url = await serve(config=ServerConfig(max_receive_size=MAX_RECEIVE))
    probe = LatencyProbe(url)
    await probe.sample("before", 3)
    await asyncio.wait_for(probe.during(case.run(url)), 60)
    await probe.sample("after", 3)
    for phase in ("before", "during", "after"):
        assert probe.samples[phase], phase
        assert max(probe.samples[phase]) < LATENCY_BOUND, probe.summary()
    # Hostile input is the client's fault: never an internal error in the server's log.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    record("hostile:" + case.name, latency=probe.summary())


async def test_slow_upgrade_is_cut_off(no_leaked_children: None, serve: Serve) -> None:
    """An upgrade request that never finishes is dropped after the header timeout.

    The timeout is aiohttp's ``keepalive_timeout`` (the time a request may take
    to arrive); meanwhile other clients are served as before.
    """
    url = await serve(runner_kwargs={"keepalive_timeout": 1.0})
    port = port_of(url)
    probe = LatencyProbe(url)
    await probe.sample("before", 3)

    async def slowloris() -> float:
        t0 = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 30)  # EOF: the server hung up
        writer.close()
        assert data == b"", data
        return time.monotonic() - t0

    async def long_session() -> bytes:
        """A session outlasting the timeout is not cut: it applies to the request only."""
        ws = await RawWebSocket.connect(url)
        try:
            await ws.send_message(start_bytes("sh", "-c", "sleep 1.5; echo late"))
            return (await collect(ws)).stdout
        finally:
            await ws.aclose()

    cut_after, late = await asyncio.gather(probe.during(slowloris()), long_session())
    assert late == b"late\n"
    await probe.sample("after", 3)
    assert 0.5 < cut_after < 25, cut_after
    record("hostile:slow_upgrade", cut_after_s=round(cut_after, 2), latency=probe.summary())


async def test_cli_server_cuts_off_slow_upgrades(
    no_leaked_children: None, start_server_process: Any
) -> None:
    """``wsep-server --header-timeout`` bounds how long a request may take to arrive.

    Without it aiohttp's default (over an hour) lets a slow client hold a connection.
    """
    srv = start_server_process("--header-timeout", "1")
    port = port_of(srv.url)
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    assert data == b""
    assert time.monotonic() - t0 < 25
    ws = await RawWebSocket.connect(srv.url)
    await ws.send_message(start_bytes("sh", "-c", "sleep 1.5; echo late"))
    assert (await collect(ws)).stdout == b"late\n"  # sessions are not cut by it
    await ws.aclose()


async def test_many_connections_opened_and_dropped(no_leaked_children: None, serve: Serve) -> None:
    """Thousands of connections dropped at every stage; the server serves as before."""
    from support.proc import fd_count, fds_settled

    url = await serve()
    port = port_of(url)
    total = scaled(500, 10_000)
    probe = LatencyProbe(url)
    await probe.sample("before", 3)
    fds_before = fd_count()

    async def one(i: int) -> None:
        stage = i % 4
        if stage == 0:  # TCP only
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.transport.abort()
        elif stage == 1:  # half an HTTP request
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost")
            await writer.drain()
            writer.transport.abort()
        elif stage == 2:  # upgraded, then dropped
            ws = await RawWebSocket.connect(url)
            ws.abort()
        else:  # started a process, then dropped
            ws = await RawWebSocket.connect(url)
            await ws.send_message(start_bytes("sleep", "30"))
            ws.abort()

    async def storm() -> None:
        sem = asyncio.Semaphore(50)

        async def limited(i: int) -> None:
            async with sem:
                await one(i)

        await asyncio.gather(*(limited(i) for i in range(total)))

    t0 = time.monotonic()
    await probe.during(storm())
    elapsed = time.monotonic() - t0
    await probe.sample("after", 3)
    from support.proc import wait_for_no_children

    assert await wait_for_no_children() == []
    # Let the server finish closing the dropped connections, then compare fds.
    fds_after = await fds_settled(fds_before, 5)
    assert fds_after <= fds_before + 5, (fds_before, fds_after)
    for phase in ("before", "during", "after"):
        assert max(probe.samples[phase]) < LATENCY_BOUND, probe.summary()
    record(
        "hostile:connections_dropped",
        connections=total,
        seconds=round(elapsed, 2),
        fds_before=fds_before,
        fds_after=fds_after,
        latency=probe.summary(),
    )
