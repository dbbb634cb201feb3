"""An execer written against ``wsep_protocol.Execer`` only: the documented example.

It runs commands with ``asyncio.create_subprocess_exec`` over pipes (no TTY)
and shows what a pluggable execer must do: raise ``StartError`` with a kind,
give readers that end with EOF, a writer with backpressure, ``wait()`` that
returns an ``ExitStatus``, and a ``close()`` that always leaves nothing behind.
Served with ``create_app(execer=ExampleExecer())`` or
``wsep-server --execer example_execer:ExampleExecer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from wsep_protocol import Command, ExitStatus, StartError, StartErrorKind

__all__ = ["ExampleExecer", "ExampleProcess"]


class ExampleProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        assert proc.stdin
        assert proc.stdout
        assert proc.stderr
        self.stdin = proc.stdin
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def pid(self) -> int:
        return self._proc.pid

    async def wait(self) -> ExitStatus:
        return ExitStatus.from_returncode(await self._proc.wait())

    async def resize(self, rows: int, cols: int) -> None:
        return None  # no TTY

    async def send_signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signum)

    async def close(self) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), 2.0)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                await self._proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)  # leftovers of the group


class ExampleExecer:
    """Runs every command with ``prefix`` in its environment (to tell it apart)."""

    def __init__(self, prefix: str = "example") -> None:
        self.prefix = prefix

    async def start(self, command: Command) -> ExampleProcess:
        if command.tty:
            raise StartError("this execer has no TTY support", kind=StartErrorKind.OTHER)
        env = dict(os.environ, WSEP_EXECER=self.prefix)
        env.update(entry.split("=", 1) for entry in command.env)  # type: ignore[misc]
        try:
            proc = await asyncio.create_subprocess_exec(
                *command.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=command.working_dir or None,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise StartError(str(exc), kind=StartErrorKind.COMMAND_NOT_FOUND) from None
        except PermissionError as exc:
            raise StartError(str(exc), kind=StartErrorKind.PERMISSION_DENIED) from None
        if not command.stdin_enabled:
            assert proc.stdin is not None
            proc.stdin.close()
        return ExampleProcess(proc)
