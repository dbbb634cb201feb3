"""Driving a ``LocalExecer`` process directly (no server): run one to its end, wait for output."""

from __future__ import annotations

import asyncio

from wsep_protocol import Command, ExitStatus
from wsep_server.local import LocalExecer, LocalProcess

from support import TIMEOUT
from support.streams import read_all

__all__ = ["read_stdout_until", "run", "start_until"]


async def run(
    execer: LocalExecer, command: Command, stdin: bytes | None = None
) -> tuple[bytes, bytes, ExitStatus]:
    """Start, feed ``stdin`` (then EOF), collect both streams, wait, close."""
    proc = await execer.start(command)
    try:

        async def feed() -> None:
            if stdin is not None:
                proc.stdin.write(stdin)
                await proc.stdin.drain()
            proc.stdin.close()

        feeder = asyncio.create_task(feed())
        out, err = await asyncio.gather(read_all(proc.stdout), read_all(proc.stderr))
        status = await asyncio.wait_for(proc.wait(), TIMEOUT)
        await feeder
        return out, err, status
    finally:
        await proc.close()


async def read_stdout_until(proc: LocalProcess, marker: bytes, buf: bytearray) -> None:
    """Read stdout into ``buf`` until ``marker`` appears (the child reached a point)."""
    while marker not in buf:
        chunk = await asyncio.wait_for(proc.stdout.read(4096), TIMEOUT)
        if not chunk:
            raise AssertionError(f"EOF before {marker!r}; got {bytes(buf)!r}")
        buf += chunk


async def start_until(
    execer: LocalExecer, command: Command, marker: bytes
) -> tuple[LocalProcess, bytes]:
    """``command`` started, and its stdout read until ``marker`` (the child got there)."""
    proc = await execer.start(command)
    buf = bytearray()
    await read_stdout_until(proc, marker, buf)
    return proc, bytes(buf)
