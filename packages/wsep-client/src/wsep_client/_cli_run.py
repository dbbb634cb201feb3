"""``wsep run``: a remote command wired to this process's stdin/stdout/stderr."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import signal
from collections.abc import Coroutine
from typing import Any

from ._cli_common import EXIT_TIMEOUT, die, execer_from_args, run_async
from ._tty import raw_mode, terminal_size
from .errors import ConnectionLost
from .process import RemoteProcess
from .streams import RemoteStdin, RemoteStreamReader

__all__ = ["run_main"]

READ_SIZE = 1 << 20


def run_main(args: argparse.Namespace) -> int:
    return run_async(_run(args))


async def _run(args: argparse.Namespace) -> int:
    tty_mode: bool = args.tty
    stdin_is_tty = os.isatty(0)
    send_stdin = tty_mode or not stdin_is_tty
    env = list(args.env)
    rows = cols = 0
    if tty_mode:
        rows, cols = terminal_size()
        term = os.environ.get("TERM")
        if term and not any(item.startswith("TERM=") for item in env):
            env.insert(0, f"TERM={term}")
    async with execer_from_args(args) as execer:
        process = await execer.create_process(
            args.argv[0],
            *args.argv[1:],
            stdin=send_stdin,
            tty=tty_mode,
            env=env,
            cwd=args.cwd,
            rows=rows,
            cols=cols,
            session_id=args.id,
        )
        try:
            with raw_mode(0) if tty_mode and stdin_is_tty else contextlib.nullcontext():
                return await _drive(process, args, send_stdin=send_stdin, tty_mode=tty_mode)
        finally:
            await process.close()


async def _drive(
    process: RemoteProcess, args: argparse.Namespace, *, send_stdin: bool, tty_mode: bool
) -> int:
    loop = asyncio.get_running_loop()
    ended_by: list[int] = []
    interrupts = [0]
    background: set[asyncio.Task[None]] = set()

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        task = loop.create_task(_quietly(coro))
        background.add(task)
        task.add_done_callback(background.discard)

    def on_winch() -> None:
        spawn(process.resize(*terminal_size()))

    def on_interrupt() -> None:
        interrupts[0] += 1
        if interrupts[0] == 1 and process.protocol_version >= 2:
            spawn(process.send_signal(signal.SIGINT))
        else:
            ended_by.append(signal.SIGINT)
            spawn(process.close())

    def on_terminate(signum: int) -> None:
        ended_by.append(signum)
        spawn(process.close())

    handlers: list[int] = []
    if tty_mode:
        loop.add_signal_handler(signal.SIGWINCH, on_winch)
        handlers.append(signal.SIGWINCH)
    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    handlers.append(signal.SIGINT)
    for term in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(term, on_terminate, int(term))
        handlers.append(term)

    feeder = loop.create_task(_pump_stdin(process.stdin, 0)) if send_stdin else None
    try:
        body = _copy_and_wait(process)
        if args.timeout is not None:
            try:
                code = await asyncio.wait_for(body, args.timeout)
            except (asyncio.TimeoutError, TimeoutError):
                await process.close()
                return die(
                    f"{' '.join(args.argv)}: timed out after {args.timeout:g} s", EXIT_TIMEOUT
                )
        else:
            code = await body
    except ConnectionLost:
        if ended_by:
            return 128 + ended_by[0]
        raise
    finally:
        for signum in handlers:
            loop.remove_signal_handler(signum)
        if feeder is not None:
            feeder.cancel()
            await asyncio.wait([feeder])
            if not feeder.cancelled():
                feeder.exception()
    return code


async def _copy_and_wait(process: RemoteProcess) -> int:
    # All output is written before the exit status is used: no lost tail.
    try:
        await asyncio.gather(_copy_out(process.stdout, 1), _copy_out(process.stderr, 2))
    except BrokenPipeError:
        await process.close()  # our reader went away: end the remote side, as SIGPIPE would
        return 128 + signal.SIGPIPE
    status = await process.wait()
    return status.shell_code


async def _quietly(coro: Coroutine[Any, Any, None]) -> None:
    with contextlib.suppress(Exception):
        await coro


async def _copy_out(reader: RemoteStreamReader, fd: int) -> None:
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            return
        _write_all(fd, data)


def _write_all(fd: int, data: bytes) -> None:
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
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    try:
        loop.add_reader(fd, ready.set)
    except (PermissionError, OSError, ValueError):
        selectable = False  # a regular file or /dev/null: reads never block
    else:
        selectable = True
        loop.remove_reader(fd)
    try:
        while True:
            if selectable:
                ready.clear()
                loop.add_reader(fd, ready.set)
                try:
                    await ready.wait()
                finally:
                    loop.remove_reader(fd)
                try:
                    data = os.read(fd, READ_SIZE)
                except BlockingIOError:
                    continue
            else:
                data = await loop.run_in_executor(None, os.read, fd, READ_SIZE)
            if not data:
                stdin.close()
                return
            stdin.write(data)
            await stdin.drain()
    except (BrokenPipeError, ConnectionError):
        return  # the process exited; nothing more to send
    except OSError:
        stdin.close()
