"""Fuzzing a real server: random and mutated message sequences over real connections.

Decoder and state machine properties live in ``tests/protocol/test_properties.py``;
this drives the whole server (``python -m wsep_server`` as a subprocess) with
hypothesis-generated sequences: valid client messages, mutated ones, random
bytes, text or binary frames, fragmented or not, pings, and every way of
ending (close, TCP drop, waiting for the server). After every example the
server must still be running and have no child left; at the end it must still
serve a normal client.

The server's PATH holds only harmless programs, so a mutated start can never
run anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import scaled
from support.proc import descendants
from support.rawws import OP_CLOSE, OP_PING, RawWebSocket, build_frame
from support.reliability import record
from support.wire import collect, start_bytes
from wsep_protocol import (
    SUBPROTOCOL_V2,
    CloseStdin,
    Command,
    Resize,
    Signal,
    Start,
    Stdin,
    encode,
)

SAFE_PROGRAMS = ["true", "false", "echo", "cat", "sleep", "yes", "head"]

safe_args = st.lists(
    st.sampled_from(["0", "0.2", "5", "-c", "1", "hi", "-n", "--", ""]), max_size=3
)
commands = st.builds(
    Command,
    command=st.sampled_from([*SAFE_PROGRAMS, "no-such-program"]),
    args=safe_args.map(tuple),
    stdin=st.booleans(),
    tty=st.booleans(),
    rows=st.integers(0, 300),
    cols=st.integers(0, 300),
    env=st.lists(st.sampled_from(["A=1", "TERM=dumb", "X="]), max_size=2).map(tuple),
)
messages = st.one_of(
    st.builds(Start, commands),
    st.builds(Stdin, st.binary(max_size=200)),
    st.just(CloseStdin()),
    st.builds(Resize, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    st.builds(Signal, st.sampled_from(["SIGTERM", "SIGINT", "SIGSTOP", "SIGCONT", "SIGKILL"])),
)


@st.composite
def wires(draw: st.DrawFn) -> bytes:
    """A message's bytes, maybe mutated, or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=80))
    wire = bytearray(encode(draw(messages)))
    if draw(st.integers(0, 3)) == 0:
        for _ in range(draw(st.integers(1, 3))):
            op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
            at = draw(st.integers(0, max(len(wire) - 1, 0)))
            if op == "flip" and wire:
                wire[at] ^= 1 << draw(st.integers(0, 7))
            elif op == "insert":
                wire[at:at] = draw(st.binary(min_size=1, max_size=3))
            elif op == "delete" and wire:
                del wire[at]
            else:
                del wire[at:]
    return bytes(wire)


steps = st.lists(
    st.tuples(wires(), st.booleans(), st.integers(1, 3), st.booleans()),  # wire, text, frags, ping
    min_size=1,
    max_size=8,
)
endings = st.sampled_from(["close", "abort", "wait"])


async def _drain(ws: RawWebSocket, seconds: float) -> None:
    """Read (answering pings) until the server closes or ``seconds`` pass."""
    with contextlib.suppress(asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            opcode, _ = await ws.recv_message(remaining)
            if opcode == OP_CLOSE:
                with contextlib.suppress(ConnectionError, OSError):
                    await ws.close(1000)
                return


async def _session(
    url: str, v2: bool, sequence: list[tuple[bytes, bool, int, bool]], end: str
) -> None:
    ws = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2] if v2 else [])
    try:
        with contextlib.suppress(ConnectionError, OSError):
            for wire, as_text, fragments, ping in sequence:
                if ping:
                    await ws.send_raw(build_frame(OP_PING, b"fuzz"))
                if as_text:
                    try:
                        await ws.send_message(wire.decode("utf-8"), fragments=fragments)
                    except UnicodeDecodeError:
                        await ws.send_message(wire, fragments=fragments)
                else:
                    await ws.send_message(wire, fragments=fragments)
            if end == "close":
                await ws.close(1000, "fuzz done")
                await _drain(ws, 10)
            elif end == "wait":
                await _drain(ws, 0.3)
    finally:
        ws.abort()


def _wait_no_children(pid: int, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := descendants(pid)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return left


def test_server_survives_fuzzed_sessions(start_server_process: Any, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in SAFE_PROGRAMS:
        found = shutil.which(name)
        assert found is not None, name
        os.symlink(found, bindir / name)
    srv = start_server_process(
        "--grace-period", "2", "--log-level", "error", "--heartbeat", "0",
        env={"PATH": str(bindir), "WSEP_EXIT_LINGER": "1"},
    )  # fmt: skip
    pid = srv.proc.pid
    examples = {"n": 0}

    @settings(
        max_examples=scaled(150, 3_000),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(st.booleans(), steps, endings)
    def example(v2: bool, sequence: list[tuple[bytes, bool, int, bool]], end: str) -> None:
        asyncio.run(asyncio.wait_for(_session(srv.url, v2, sequence, end), 60))
        assert srv.proc.poll() is None, "the server died"
        assert _wait_no_children(pid) == [], "a process outlived its connection"
        examples["n"] += 1

    example()

    async def control() -> bytes:
        ws = await RawWebSocket.connect(srv.url)
        await ws.send_message(start_bytes("echo", "alive"))
        res = await collect(ws)
        await ws.aclose()
        return res.stdout

    assert asyncio.run(control()) == b"alive\n"
    assert srv.stop() == 0
    log = srv.output()
    assert "Traceback" not in log, log[-3000:]
    record("fuzz:server_sessions", examples=examples["n"], leaked=0, server_crashes=0)
