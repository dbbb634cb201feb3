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
    input: bytes | str | None = None,
    check: bool = False,
    timeout: float | None = None,
    encoding: str | None = None,
    errors: str | None = None,
) -> CompletedProcess:
    """Run ``command`` on ``execer`` to completion (see ``RemoteExecer.run``).

    With an ``encoding`` (text mode), ``input`` may be a ``str`` and the
    output is decoded (``errors`` as for ``bytes.decode``, default strict).
    """
    if isinstance(input, str):
        if encoding is None:
            raise TypeError("input is a str: pass text=True or an encoding to run()")
        input = input.encode(encoding, errors or "strict")
    elif input is not None and not isinstance(input, (bytes, bytearray, memoryview)):
        raise TypeError(f"input must be bytes (or str in text mode), not {type(input).__name__}")

    def output(chunks: list[bytes]) -> bytes | str:
        data = b"".join(chunks)
        return data if encoding is None else data.decode(encoding, errors or "strict")

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
        result = CompletedProcess.from_status(command.argv, None, output(out), output(err), pid=pid)
        raise ProcessTimeout(result, timeout) from None
    finally:
        if process is not None:
            await process.close()
    result = CompletedProcess.from_status(
        command.argv,
        process.exit_status,
        output(out),
        output(err),
        pid=process.pid,
        termination_reason=process.termination_reason,
    )
    if check and result.returncode != 0:
        raise ProcessError(result)
    return result
