"""What flows in and out of a fleet run: the same stdin to every target, output as lines.

:class:`FleetStream` is what ``Fleet.stream()`` returns; its lines come from
:func:`pieces`, and :class:`StdinFanout` feeds every process the same input.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any, NamedTuple

from wsep_protocol import Command

from ._futures import consume_exception
from .inventory import Target
from .process import ExecerProcess
from .streams import RemoteStreamReader

if TYPE_CHECKING:
    from .fleet import Fleet, FleetResults

__all__ = ["FleetStream", "Input", "Line", "StdinFanout", "cancel", "pieces"]

Input = bytes | AsyncIterable[bytes] | None

READ_SIZE = 1 << 16
#: Unsplit output is read in pieces this large (fewer, larger items for bulk data).
CHUNK_SIZE = 1 << 20
#: A line longer than this is delivered in pieces of this size.
MAX_LINE = 1 << 16


class Line(NamedTuple):
    """One line (with its ``\\n``, if it had one) or, unsplit, one chunk of output."""

    target: Target
    stream: str  # "stdout" or "stderr"
    data: bytes


class FleetStream:
    """``async with fleet.stream(...) as lines: async for target, stream, data in lines``.

    Leaving the block early ends every remote process; ``results`` is set once
    the iteration has ended.
    """

    def __init__(
        self,
        fleet: Fleet,
        command: Command,
        input: Input,
        timeout: float | None,
        lines: bool,
        fail_fast: bool,
    ) -> None:
        self._fleet = fleet
        self._command = command
        self._input = input
        self._timeout = timeout
        self._lines = lines
        self._fail_fast = fail_fast
        self._queue: asyncio.Queue[Line | None] = asyncio.Queue(maxsize=256)
        self._task: asyncio.Task[FleetResults] | None = None
        self.results: FleetResults | None = None

    async def __aenter__(self) -> FleetStream:
        async def on_output(target: Target, stream: str, data: bytes) -> None:
            await self._queue.put(Line(target, stream, data))

        async def run() -> FleetResults:
            try:
                results = await self._fleet._run_all(
                    self._command,
                    self._input,
                    self._timeout,
                    self._fail_fast,
                    on_output,
                    collect=False,
                    lines=self._lines,
                )
            except BaseException:
                # Wake the reader without blocking: what it has not read yet is dropped.
                while not self._queue.empty():
                    self._queue.get_nowait()
                self._queue.put_nowait(None)
                raise
            await self._queue.put(None)
            return results

        self._task = asyncio.ensure_future(run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            await cancel(self._task)

    def __aiter__(self) -> AsyncIterator[Line]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Line]:
        if self._task is None:
            raise RuntimeError("use `async with fleet.stream(...) as lines:` first")
        while True:
            line = await self._queue.get()
            if line is None:
                break
            yield line
        self.results = await self._task


class StdinFanout:
    """The same stdin for every target: bytes, or an async iterable sent as it comes."""

    def __init__(self, input: bytes | AsyncIterable[bytes], expected: int) -> None:
        self._input = input
        self._waiting = expected
        self._running: set[ExecerProcess] = set()
        #: Feeds of bytes input in flight (held: the loop keeps only weak references).
        self._feeding: set[asyncio.Future[None]] = set()
        self._all_started = asyncio.Event()
        if expected == 0:
            self._all_started.set()

    def started(self, process: ExecerProcess | None) -> None:
        if process is not None:
            self._running.add(process)
            if isinstance(self._input, bytes):
                future = asyncio.ensure_future(process._feed(self._input))
                self._feeding.add(future)
                future.add_done_callback(self._feeding.discard)
                future.add_done_callback(consume_exception)
        self._waiting -= 1
        if self._waiting <= 0:
            self._all_started.set()

    def finished(self, process: ExecerProcess) -> None:
        self._running.discard(process)

    async def feed(self) -> None:
        if isinstance(self._input, bytes):
            return
        await self._all_started.wait()
        async for chunk in self._input:
            running = list(self._running)
            for process in running:
                with contextlib.suppress(Exception):
                    process.stdin.write(chunk)
            await asyncio.gather(*(p.stdin.drain() for p in running), return_exceptions=True)
        for process in list(self._running):
            with contextlib.suppress(Exception):
                process.stdin.close()


async def pieces(reader: RemoteStreamReader, lines: bool) -> AsyncIterator[bytes]:
    """Output as lines (a longer one in ``MAX_LINE`` pieces), or chunks as received."""
    pending = b""
    size = READ_SIZE if lines else CHUNK_SIZE
    while True:
        chunk = await reader.read(size)
        if not chunk:
            break
        if not lines:
            yield chunk
            continue
        pending += chunk
        start = 0
        while True:
            end = pending.find(b"\n", start, start + MAX_LINE)
            if end >= 0:
                yield pending[start : end + 1]
                start = end + 1
            elif len(pending) - start >= MAX_LINE:
                yield pending[start : start + MAX_LINE]
                start += MAX_LINE
            else:
                break
        pending = pending[start:]
    if pending:
        yield pending


async def cancel(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.cancel()
    await asyncio.wait([future])
    if not future.cancelled():
        future.exception()
