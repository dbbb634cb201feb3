"""Regressions the fuzzing and hostile-input suites found, each reduced to a deterministic test."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import pytest
from support.proc import wait_for_no_children
from support.rawws import OP_BINARY, OP_PING, RawWebSocket, build_frame
from support.reliability import Serve, record
from support.wire import collect, pid_of, start_bytes


class Ends:
    """A session observer that keeps every ended session's record."""

    def __init__(self) -> None:
        self.records: list[object] = []
        self.done = asyncio.Event()
        self.expected = 0

    def on_start(self, record: object) -> None:
        pass

    def on_end(self, record: object) -> None:
        self.records.append(record)
        if len(self.records) >= self.expected:
            self.done.set()


async def test_pings_then_drop_is_a_disconnect_not_an_internal_error(
    no_leaked_children: None, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """Pings followed by a TCP reset: aiohttp's automatic pong hits a closing
    transport inside ``receive()``. That is the client going away, not a
    server failure: no ERROR log with a traceback, end reason "client disconnected".
    """
    ends = Ends()
    ends.expected = rounds = 20
    url = await serve(observers=[ends])
    caplog.set_level(logging.WARNING, logger="wsep_server")
    for _ in range(rounds):
        ws = await RawWebSocket.connect(url)
        await ws.send_message(start_bytes("sleep", "600"))
        await pid_of(ws)
        await ws.send_raw(b"".join(build_frame(OP_PING, b"p") for _ in range(200)))
        ws.abort()
    await asyncio.wait_for(ends.done.wait(), 30)
    assert await wait_for_no_children() == []
    reasons = sorted({getattr(r, "end_reason", "") for r in ends.records})
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []
    assert reasons == ["client disconnected"], reasons


class _CountingProcess:
    """Delegates to a real process; notes the event-loop tick of every resize."""

    def __init__(self, process: Any, ticks: list[int], seen: list[int]) -> None:
        self._process = process
        self._ticks = ticks
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._process, name)

    async def resize(self, rows: int, cols: int) -> None:
        self._seen.append(self._ticks[0])
        await self._process.resize(rows, cols)


class _CountingExecer:
    def __init__(self, ticks: list[int], seen: list[int]) -> None:
        from wsep_server.local import LocalExecer

        self._execer = LocalExecer(grace_period=2.0, output_linger=0.5)
        self._ticks = ticks
        self._seen = seen

    async def start(self, command: Any) -> Any:
        return _CountingProcess(await self._execer.start(command), self._ticks, self._seen)


async def test_a_flood_of_tiny_messages_yields_to_other_clients(
    no_leaked_children: None, serve: Serve
) -> None:
    """Thousands of tiny messages in one burst must not hold the event loop: the
    session yields between batches, so other connections are served meanwhile.

    Measured without timing: a ticker task counts event-loop turns, and each
    resize notes the turn it ran in; the longest run of resizes within one turn
    is how many messages the server handled without letting anyone else in.
    """
    ticks: list[int] = [0]
    seen: list[int] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks[0] += 1
            await asyncio.sleep(0)

    url = await serve(execer=_CountingExecer(ticks, seen))
    task = asyncio.ensure_future(ticker())
    n = 5_000
    try:
        ws = await RawWebSocket.connect(url)
        await ws.send_message(start_bytes("sh", "-c", "read x; stty size", tty=True, stdin=True))
        await pid_of(ws)
        frames = b"".join(
            build_frame(OP_BINARY, b'{"type":"resize","rows":%d,"cols":20}' % (10 + i % 50))
            for i in range(n)
        )
        await ws.send_raw(frames + build_frame(OP_BINARY, b'{"type":"stdin"}\ngo\n'))
        res = await asyncio.wait_for(collect(ws), 60)
        await ws.aclose()
    finally:
        stop.set()
        await task
    assert res.stdout.endswith(b"59 20\r\n"), res.stdout[-40:]
    assert len(seen) == n
    longest = max(Counter(seen).values())
    assert longest <= 256, f"{longest} messages handled without yielding"
    record("fairness:tiny_message_burst", messages=n, longest_run_without_yield=longest)


class _SlowStartExecer:
    """A local execer whose start takes a while, so the client's reset lands during it."""

    def __init__(self) -> None:
        from wsep_server.local import LocalExecer

        self._execer = LocalExecer(grace_period=2.0, output_linger=0.5)

    async def start(self, command: Any) -> Any:
        await asyncio.sleep(0.3)
        return await self._execer.start(command)


async def test_drop_right_after_start_is_a_disconnect_not_an_internal_error(
    no_leaked_children: None, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """``start`` then a TCP reset: sending ``pid`` to the reset connection raises.
    That is the client going away: no ERROR log, end reason "client disconnected"."""
    ends = Ends()
    ends.expected = rounds = 10
    url = await serve(observers=[ends], execer=_SlowStartExecer())
    caplog.set_level(logging.WARNING, logger="wsep_server")
    for _ in range(rounds):
        ws = await RawWebSocket.connect(url)
        await ws.send_message(start_bytes("sleep", "600"))
        ws.abort()  # while the (slow) start is still under way
    await asyncio.wait_for(ends.done.wait(), 30)
    assert await wait_for_no_children() == []
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []
    reasons = sorted({getattr(r, "end_reason", "") for r in ends.records})
    assert reasons == ["client disconnected"], reasons


async def test_a_ping_flood_yields_to_other_clients(no_leaked_children: None, serve: Serve) -> None:
    """A burst of pings must not hold the event loop either: the connection handler answers
    them itself (aiohttp's autoping is off), each pong counted in the yield budget.

    Measured like the tiny-message burst above: the longest run of pongs sent
    within one event-loop turn. Every ping still gets its pong, same payload.
    """
    from support.rawws import OP_PONG
    from wsep_server import ConnectionHandler

    ticks: list[int] = [0]
    seen: list[int] = []
    stop = asyncio.Event()

    class CountingHandler(ConnectionHandler):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            pong = self.ws.pong

            async def counted(message: bytes = b"") -> None:
                seen.append(ticks[0])
                await pong(message)

            self.ws.pong = counted  # type: ignore[method-assign]

    async def ticker() -> None:
        while not stop.is_set():
            ticks[0] += 1
            await asyncio.sleep(0)

    url = await serve(handler_class=CountingHandler)
    task = asyncio.ensure_future(ticker())
    n = 5_000
    try:
        ws = await RawWebSocket.connect(url)
        await ws.send_message(start_bytes("cat", stdin=True))
        await pid_of(ws)
        await ws.send_raw(b"".join(build_frame(OP_PING, b"%d" % i) for i in range(n)))
        await ws.send_message(b'{"type":"close_stdin"}\n')
        payloads = []
        while len(payloads) < n:
            frame = await ws.recv_frame(timeout=60)
            if frame.opcode == OP_PONG:
                payloads.append(frame.payload)
        res = await asyncio.wait_for(collect(ws), 60)
        await ws.aclose()
    finally:
        stop.set()
        await task
    assert res.exit is not None
    assert res.exit["exit_code"] == 0
    assert payloads == [b"%d" % i for i in range(n)]
    assert len(seen) == n
    longest = max(Counter(seen).values())
    assert longest <= 256, f"{longest} pings answered without yielding"
    record("fairness:ping_burst", pings=n, longest_run_without_yield=longest)
