"""What every client execer offers on top of ``start``: ``create_process`` and ``run``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, overload

from wsep_protocol import Command

from .commands import CommandArg, build_command, text_encoding
from .process import ExecerProcess, ProcessBase, RemoteProcess
from .result import CompletedProcess
from .resume import ResumeOptions
from .runner import run_process
from .streams import DEFAULT_LIMIT
from .text import TextProcess

__all__ = ["ExecerBase"]


class ExecerBase:
    """What every execer offers on top of ``start``: ``create_process`` and ``run``."""

    limit: int = DEFAULT_LIMIT

    async def start(
        self,
        command: Command,
        *,
        session_id: str = "",
        resumable: bool = False,
        resume: ResumeOptions | None = None,
    ) -> ExecerProcess:
        """Start ``command``: the ``wsep_protocol.Execer`` interface (see ``create_process``)."""
        process = await self._start_as(
            ExecerProcess, command, session_id=session_id, resumable=resumable, resume=resume
        )
        assert isinstance(process, ExecerProcess)
        return process

    async def _start_as(
        self,
        kind: type[ProcessBase],
        command: Command,
        *,
        session_id: str = "",
        resumable: bool = False,
        resume: ResumeOptions | None = None,
    ) -> ProcessBase:
        raise NotImplementedError

    @overload
    async def create_process(
        self,
        cmd: CommandArg,
        *args: str,
        stdin: bool = True,
        tty: bool = False,
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        rows: int = 0,
        cols: int = 0,
        session_id: str = "",
        resumable: bool = False,
        resume: ResumeOptions | None = None,
        text: Literal[False] = False,
        encoding: None = None,
        errors: None = None,
    ) -> RemoteProcess: ...

    @overload
    async def create_process(
        self,
        cmd: CommandArg,
        *args: str,
        stdin: bool = True,
        tty: bool = False,
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        rows: int = 0,
        cols: int = 0,
        session_id: str = "",
        resumable: bool = False,
        resume: ResumeOptions | None = None,
        text: Literal[True],
        encoding: str | None = None,
        errors: str | None = None,
    ) -> TextProcess: ...

    @overload
    async def create_process(
        self,
        cmd: CommandArg,
        *args: str,
        stdin: bool = True,
        tty: bool = False,
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        rows: int = 0,
        cols: int = 0,
        session_id: str = "",
        resumable: bool = False,
        resume: ResumeOptions | None = None,
        text: bool = False,
        encoding: str | None = None,
        errors: str | None = None,
    ) -> RemoteProcess | TextProcess: ...

    async def create_process(
        self,
        cmd: CommandArg,
        *args: str,
        stdin: bool = True,
        tty: bool = False,
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        rows: int = 0,
        cols: int = 0,
        session_id: str = "",
        resumable: bool = False,
        resume: ResumeOptions | None = None,
        text: bool = False,
        encoding: str | None = None,
        errors: str | None = None,
    ) -> RemoteProcess | TextProcess:
        """Start ``cmd args...``; like ``asyncio.create_subprocess_exec``.

        ``text=True`` (or an ``encoding``/``errors``) gives a :class:`TextProcess`,
        whose streams read and write ``str`` (UTF-8 by default).
        ``session_id`` with ``tty`` names a reattachable terminal session (it is
        reattached if it exists); with ``resumable`` (v2, no TTY) a job that
        outlives its connection and is resumed from the bytes delivered when
        the connection drops (``resume`` tunes retries and gaps).
        """
        command = build_command(
            cmd, *args, stdin=stdin, tty=tty, env=env, cwd=cwd, rows=rows, cols=cols
        )
        process = await self._start_as(
            RemoteProcess, command, session_id=session_id, resumable=resumable, resume=resume
        )
        assert isinstance(process, RemoteProcess)
        text_mode = text_encoding(text, encoding, errors)
        if text_mode is not None:
            return TextProcess(process, text_mode, errors or "strict")
        return process

    async def run(
        self,
        cmd: CommandArg,
        *args: str,
        input: str | bytes | None = None,
        check: bool = False,
        timeout: float | None = None,
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        tty: bool = False,
        rows: int = 0,
        cols: int = 0,
        text: bool = False,
        encoding: str | None = None,
        errors: str | None = None,
    ) -> CompletedProcess:
        """Run a command to completion and collect its output.

        ``run("ls", "-l")`` or, as with ``subprocess``, ``run(["ls", "-l"])``.
        ``text=True`` (or an ``encoding``/``errors``) decodes the output to
        ``str`` (UTF-8 by default) and takes ``input`` as ``str``. Raises
        :class:`ProcessError` when ``check`` and it fails, and
        :class:`ProcessTimeout` (after ending the remote process) when it runs
        past ``timeout`` seconds; wrong argument types raise ``TypeError`` at once.
        """
        command = build_command(
            cmd,
            *args,
            stdin=input is not None or tty,
            tty=tty,
            env=env,
            cwd=cwd,
            rows=rows,
            cols=cols,
        )
        return await run_process(
            self,
            command,
            input=input,
            check=check,
            timeout=timeout,
            encoding=text_encoding(text, encoding, errors),
            errors=errors,
        )
