"""``wsep run``: a remote command wired to this process's stdin/stdout/stderr.

:func:`drive` is shared with the control master, which runs it on the file
descriptors a thin client passed over its socket; only the wiring of
signals differs (handlers here, messages there).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import select
import signal
import stat
import struct
import termios
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ._cli_common import EXIT_TIMEOUT, die, execer_from_args, run_async
from ._local_stdin import stdin_chunks
from ._run_request import request_fields
from ._tty import raw_mode, terminal_size
from .errors import ConnectionLost
from .process import RemoteProcess
from .streams import RemoteStdin, RemoteStreamReader

__all__ = ["Controls", "RunRequest", "drive", "run_main", "start_remote"]

READ_SIZE = 1 << 20

#: Writes ``data`` to a local file descriptor, all of it.
Writer = Callable[[int, bytes], Awaitable[None]]


@dataclass(frozen=True)
class RunRequest:
    """What ``wsep run`` was asked to do, the same directly and through a control master."""

    argv: list[str]
    env: list[str]
    cwd: str | None
    tty: bool
    rows: int
    cols: int
    session_id: str
    timeout: float | None
    send_stdin: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunRequest:
        return cls(**request_fields(args))


def run_main(args: argparse.Namespace) -> int:
    return run_async(_run(args))


async def start_remote(execer: Any, request: RunRequest) -> RemoteProcess:
    process: RemoteProcess = await execer.create_process(
        request.argv[0],
        *request.argv[1:],
        stdin=request.send_stdin,
        tty=request.tty,
        env=request.env,
        cwd=request.cwd,
        rows=request.rows,
        cols=request.cols,
        session_id=request.session_id,
    )
    return process


async def _run(args: argparse.Namespace) -> int:
    request = RunRequest.from_args(args)
    async with execer_from_args(args) as execer:
        process = await start_remote(execer, request)
        try:
            with raw_mode(0) if request.tty and os.isatty(0) else contextlib.nullcontext():
                controls = Controls(process)
                with _signals_to(controls, tty=request.tty):
                    code, error = await drive(process, request, controls)
        finally:
            await process.close()
    if error:
        return die(error, code)
    return code


@contextlib.contextmanager
def _signals_to(controls: Controls, *, tty: bool) -> Any:
    loop = asyncio.get_running_loop()
    handlers: list[int] = []
    if tty:
        loop.add_signal_handler(signal.SIGWINCH, lambda: controls.resize(*terminal_size()))
        handlers.append(signal.SIGWINCH)
    loop.add_signal_handler(signal.SIGINT, controls.interrupt)
    handlers.append(signal.SIGINT)
    for term in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(term, controls.terminate, int(term))
        handlers.append(term)
    try:
        yield
    finally:
        for signum in handlers:
            loop.remove_signal_handler(signum)


class Controls:
    """What the user does while a command runs: Ctrl-C, a resize, a signal to ``wsep``."""

    def __init__(self, process: RemoteProcess) -> None:
        self.process = process
        self.ended_by: list[int] = []
        self.interrupts = 0
        self._background: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(_quietly(coro))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def resize(self, rows: int, cols: int) -> None:
        with contextlib.suppress(Exception):  # sent in the background; a lost connection shows
            self.process.resize(rows, cols)

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the remote command (v2); the second one, or on v1, ends it."""
        self.interrupts += 1
        if self.interrupts == 1 and self.process.protocol_version >= 2:
            with contextlib.suppress(Exception):
                self.process.send_signal(signal.SIGINT)
        else:
            self.ended_by.append(signal.SIGINT)
            self._spawn(self.process.close())

    def terminate(self, signum: int) -> None:
        """``wsep`` itself was told to end (SIGTERM, SIGHUP): end the remote command."""
        self.ended_by.append(signum)
        self._spawn(self.process.close())


async def drive(
    process: RemoteProcess,
    request: RunRequest,
    controls: Controls,
    fds: tuple[int, int, int] = (0, 1, 2),
    write: Writer | None = None,
) -> tuple[int, str]:
    """Copy ``fds`` to and from ``process`` until it exits: (exit code, error line or "")."""
    loop = asyncio.get_running_loop()
    writer = write or _write_here
    feeder = loop.create_task(_pump_stdin(process.stdin, fds[0])) if request.send_stdin else None
    try:
        body = _copy_and_wait(process, fds, writer)
        if request.timeout is not None:
            try:
                code = await asyncio.wait_for(body, request.timeout)
            except (asyncio.TimeoutError, TimeoutError):
                await process.close()
                argv = " ".join(request.argv)
                return EXIT_TIMEOUT, f"{argv}: timed out after {request.timeout:g} s"
        else:
            code = await body
    except ConnectionLost:
        if controls.ended_by:
            return 128 + controls.ended_by[0], ""
        raise
    finally:
        if feeder is not None:
            feeder.cancel()
            await asyncio.wait([feeder])
            if not feeder.cancelled():
                feeder.exception()
    reason = process.termination_reason
    if reason:
        return code, f"{' '.join(request.argv)}: ended by the server: {reason}"
    return code, ""


async def _copy_and_wait(process: RemoteProcess, fds: tuple[int, int, int], write: Writer) -> int:
    # All output is written before the exit status is used: no lost tail.
    try:
        outputs = [_copy_out(process.stdout, fds[1], write)]
        if not process.command.tty:
            outputs.append(_copy_out(process.stderr, fds[2], write))
        await asyncio.gather(*outputs)
    except BrokenPipeError:
        await process.close()  # our reader went away: end the remote side, as SIGPIPE would
        return 128 + signal.SIGPIPE
    await process.wait()
    status = process.exit_status
    assert status is not None
    return status.shell_code


async def _quietly(coro: Coroutine[Any, Any, None]) -> None:
    with contextlib.suppress(Exception):
        await coro


async def _copy_out(reader: RemoteStreamReader, fd: int, write: Writer) -> None:
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            return
        await write(fd, data)


async def _write_here(fd: int, data: bytes) -> None:
    """Write ``data`` to our own ``fd`` without ever blocking the event loop.

    The descriptor is shared with the shell (its blocking mode is not ours to
    change), so a write that may block (a full pipe nobody reads, a terminal
    stopped with Ctrl-S) runs on that descriptor's own thread, in order;
    meanwhile signals, resizes and the connection's heartbeat go on. A write
    that fits (a regular file, a pipe with room) is made here at once.
    """
    if _fits(fd, len(data)):
        write_all(fd, data)
        return
    await asyncio.get_running_loop().run_in_executor(_writer_for(fd), write_all, fd, data)


def _fits(fd: int, size: int) -> bool:
    """Whether writing ``size`` bytes to ``fd`` completes without waiting."""
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            return True
        if not stat.S_ISFIFO(mode):
            return False
        capacity = fcntl.fcntl(fd, _F_GETPIPE_SZ)
        queued = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
    except OSError:
        return False
    return bool(size <= capacity - queued)


_F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
_writers: dict[int, ThreadPoolExecutor] = {}


def _writer_for(fd: int) -> ThreadPoolExecutor:
    """One thread per descriptor: its writes stay in order, one never waits for another."""
    pool = _writers.get(fd)
    if pool is None:
        pool = _writers[fd] = ThreadPoolExecutor(1, thread_name_prefix=f"wsep-write-{fd}")
    return pool


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (in the caller's thread: it may block)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[written:]


async def _pump_stdin(stdin: RemoteStdin, fd: int) -> None:
    """Local stdin to the remote stdin, with backpressure; EOF closes it."""
    try:
        async for data in stdin_chunks(fd, READ_SIZE):
            stdin.write(data)
            await stdin.drain()
        stdin.close()
    except (BrokenPipeError, ConnectionError):
        return  # the process exited; nothing more to send
    except OSError:
        stdin.close()
