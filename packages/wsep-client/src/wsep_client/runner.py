"""``run()``: start, feed, collect, wait, and end the process on a timeout."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from wsep_protocol import Command

from .errors import ProcessError, ProcessTimeout
from .result import CompletedProcess

if TYPE_CHECKING:
    from .process import ExecerProcess

__all__ = ["run_process"]


class _Starter(Protocol):
    async def start(self, command: Command, *, session_id: str = "") -> ExecerProcess: ...


async def run_process(
    execer: _Starter,
    command: Command,
    *,
    input: bytes | None = None,
    check: bool = False,
    timeout: float | None = None,
) -> CompletedProcess:
    """Run ``command`` on ``execer`` to completion (see ``RemoteExecer.run``)."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    out: list[bytes] = []
    err: list[bytes] = []
    process: ExecerProcess | None = None
    try:
        if deadline is None:
            process = await execer.start(command)
            await process._communicate(input, out, err)
        else:
            process = await asyncio.wait_for(execer.start(command), timeout)
            remaining = max(0.0, deadline - loop.time())
            await asyncio.wait_for(process._communicate(input, out, err), remaining)
    except (asyncio.TimeoutError, TimeoutError) as exc:
        if isinstance(exc, ProcessTimeout) or timeout is None:
            raise
        pid = 0
        if process is not None:
            pid = process.pid
            await process.close()  # the server ends a process whose connection closes
        result = CompletedProcess.from_status(
            command.argv, None, b"".join(out), b"".join(err), pid=pid
        )
        raise ProcessTimeout(result, timeout) from None
    finally:
        if process is not None:
            await process.close()
    result = CompletedProcess.from_status(
        command.argv, process.exit_status, b"".join(out), b"".join(err), pid=process.pid
    )
    if check and result.returncode != 0:
        raise ProcessError(result)
    return result
