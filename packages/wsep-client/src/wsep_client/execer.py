"""``RemoteExecer``: starts processes on a wsep server, one WebSocket each."""

from __future__ import annotations

import asyncio
import contextlib
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Union, overload

import aiohttp
from wsep_protocol import (
    Command,
    Connection,
    Execer,
    Process,
    ProtocolVersion,
    Role,
)
from wsep_protocol.sessions import (
    Attach,
    EndSession,
    GetSession,
    ListSessions,
    SessionDescription,
    SessionDetails,
    SessionList,
)

from .errors import (
    ConnectError,
    ConnectionLost,
    InvalidURL,
    LocalProtocolError,
    NotSupported,
    StartFailed,
)
from .handshake import SSLArg, negotiated_version, open_websocket
from .process import ExecerProcess, ProcessBase, RemoteProcess
from .result import CompletedProcess
from .resume import Reconnect, ResumeOptions
from .runner import run_process
from .sessions import request, require_v2
from .streams import DEFAULT_LIMIT
from .text import TextProcess

__all__ = ["RemoteExecer", "WebSocketExecer", "build_command", "check_url"]

#: What ``aiohttp`` can open a WebSocket to.
_SCHEMES = ("ws", "wss", "http", "https")


def check_url(url: object) -> str:
    """``url`` if it can name a wsep server; :class:`InvalidURL` (a ``ValueError``) if not."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES or not rest.strip("/"):
        raise InvalidURL(
            f"{url!r} is not a wsep server URL: it needs a scheme and a host, "
            "e.g. ws://host:8080/ or wss://host/",
            url=url,
        )
    return url


#: A command: a program and its arguments, or (like ``subprocess``) a list of both.
CommandArg = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]


def command_argv(cmd: CommandArg, args: Sequence[Any]) -> tuple[str, tuple[str, ...]]:
    """``(program, args)`` from ``run("ls", "-l")`` or ``run(["ls", "-l"])``.

    Anything else raises ``TypeError`` at once (not later, in a task).
    """
    items: list[Any] = [cmd, *args]
    if isinstance(cmd, (list, tuple)):
        if args:
            raise TypeError("give the command either as a list or as separate arguments")
        items = list(cmd)
        if not items:
            raise ValueError("empty command")
    argv = []
    for position, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            value = os.fspath(item)
            if isinstance(value, str):
                argv.append(value)
                continue
        what = "the command" if position == 0 else f"argument {position}"
        raise TypeError(f"{what} must be a str (or os.PathLike), not {type(item).__name__}")
    if not argv[0]:
        raise ValueError("empty command")
    return argv[0], tuple(argv[1:])


def text_encoding(text: bool, encoding: str | None, errors: str | None) -> str | None:
    """The encoding of text mode, as ``subprocess`` decides it (None: bytes)."""
    if encoding is not None or errors is not None or text:
        return encoding or "utf-8"
    return None


def build_command(
    cmd: CommandArg,
    *args: str,
    stdin: bool = True,
    tty: bool = False,
    env: Mapping[str, str] | Sequence[str] | None = None,
    cwd: str | None = None,
    rows: int = 0,
    cols: int = 0,
    uid: int = 0,
    gid: int = 0,
) -> Command:
    """A :class:`~wsep_protocol.Command` from subprocess-like arguments."""
    cmd, args = command_argv(cmd, args)
    if env is None:
        env_list: tuple[str, ...] = ()
    elif isinstance(env, Mapping):
        env_list = tuple(f"{k}={v}" for k, v in env.items())
    else:
        env_list = tuple(env)
    return Command(
        command=cmd,
        args=args,
        stdin=stdin,
        tty=tty,
        rows=rows,
        cols=cols,
        uid=uid,
        gid=gid,
        env=env_list,
        working_dir=cwd or "",
    )


class _ExecerBase:
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


class RemoteExecer(_ExecerBase):
    """Starts processes on the wsep server at ``url`` (satisfies ``wsep_protocol.Execer``).

    Uses ``http_session`` (an ``aiohttp.ClientSession``) when given and never
    closes it, otherwise owns one, created on first use and closed by
    :meth:`close` (``session=`` and ``share_session=`` are deprecated names).
    ``version`` is the newest protocol to offer; ``ProtocolVersion.V1`` speaks exactly the Go
    original's protocol. ``heartbeat`` (seconds, off by default) pings an idle
    connection to find dead peers; a reader that leaves a stream full for
    longer than half of it cannot see the pongs and is disconnected.
    ``connect_timeout`` bounds the handshake and the wait for the pid.
    """

    def __init__(
        self,
        url: str,
        *,
        http_session: aiohttp.ClientSession | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: SSLArg = True,
        version: ProtocolVersion = ProtocolVersion.V2,
        heartbeat: float | None = None,
        connect_timeout: float | None = 30.0,
        limit: int = DEFAULT_LIMIT,
        share_http_session: bool = True,
        session: aiohttp.ClientSession | None = None,
        share_session: bool | None = None,
    ) -> None:
        self.url = check_url(url)
        http_session = http_session_argument(http_session, session)
        if share_session is not None:
            _deprecated("share_session=", "share_http_session=", stacklevel=3)
            share_http_session = share_session
        self._http_session = http_session
        self._own_http_session = http_session is None
        # Without a caller's http_session: one shared (closed by close()), or, for
        # long-lived owners that never call close() (a chaining server), one per
        # process, closed with it.
        self._share = share_http_session or http_session is not None
        self._headers = dict(headers or {})
        if token is not None:
            self._headers.setdefault("Authorization", f"Bearer {token}")
        self._ssl = True if ssl is None else ssl
        self.version = version
        self._heartbeat = heartbeat
        self._connect_timeout = connect_timeout
        self.limit = limit

    async def __aenter__(self) -> RemoteExecer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def check(self) -> None:
        """Open one WebSocket and close it: raises what starting a command would
        (:class:`ConnectError`, :class:`AuthenticationError`, ...), runs nothing."""
        ws = await self._open()
        await ws.close()

    async def close(self) -> None:
        """Close the http_session this execer created (never a caller's)."""
        if self._own_http_session and self._http_session is not None:
            http_session, self._http_session = self._http_session, None
            await http_session.close()

    def _get_http_session(self) -> aiohttp.ClientSession:
        if self._http_session is None:
            self._http_session = _new_http_session()
        return self._http_session

    async def _start_as(
        self,
        kind: type[ProcessBase],
        command: Command,
        *,
        session_id: str = "",
        resumable: bool = False,
        resume: ResumeOptions | None = None,
    ) -> ProcessBase:
        """Open a WebSocket, start ``command`` on it, and return once it has a pid.

        Raises :class:`ConnectError`/:class:`AuthenticationError` when no
        WebSocket could be opened, :class:`StartFailed` (a
        ``wsep_protocol.StartError``) when the server could not start it, and
        :class:`NotSupported` for ``resumable`` on a v1 server.
        """
        attach = None
        if resumable:
            if not session_id or command.tty:
                raise ValueError("resumable needs a session_id and a command without a TTY")
            attach = Attach(session_id, command=command, resumable=True)
        return await self._open_process(kind, command, session_id, attach, resume)

    async def attach(
        self,
        session_id: str,
        *,
        read_only: bool = False,
        offsets: Mapping[str, int] | None = None,
        rows: int = 0,
        cols: int = 0,
        resume: ResumeOptions | None = None,
    ) -> RemoteProcess:
        """Reattach to session ``session_id`` (v2); :class:`NoSuchSession` if there is none.

        A terminal session starts with a redraw of its screen; a resumable job
        continues at ``offsets`` (``{"stdout": n, "stderr": m}``, e.g. a previous
        process's ``offsets()``; default: the oldest bytes the server holds).
        ``read_only`` observes: input, resize and signals are refused.
        """
        offsets = offsets or {}
        attach = Attach(
            session_id,
            read_only=read_only,
            rows=rows,
            cols=cols,
            stdout_offset=offsets.get("stdout"),
            stderr_offset=offsets.get("stderr"),
        )
        placeholder = Command(f"session {session_id}", stdin=not read_only)
        process = await self._open_process(RemoteProcess, placeholder, session_id, attach, resume)
        assert isinstance(process, RemoteProcess)
        return process

    async def list_sessions(self) -> tuple[SessionDescription, ...]:
        """This identity's sessions, oldest first (v2)."""
        reply = await request(await self._open(), ListSessions(), self._connect_timeout)
        assert isinstance(reply, SessionList)
        return reply.sessions

    async def session_info(self, session_id: str) -> SessionDescription:
        """One session; :class:`NoSuchSession` if there is none (v2)."""
        reply = await request(await self._open(), GetSession(session_id), self._connect_timeout)
        assert isinstance(reply, SessionDetails)
        return reply.session

    async def end_session(self, session_id: str) -> None:
        """End a session's process; returns once it is gone (v2)."""
        await request(await self._open(), EndSession(session_id), self._connect_timeout)

    async def _open(
        self, http_session: aiohttp.ClientSession | None = None
    ) -> aiohttp.ClientWebSocketResponse[Any]:
        return await open_websocket(
            http_session or self._get_http_session(),
            self.url,
            version=self.version,
            headers=self._headers,
            ssl=self._ssl,
            heartbeat=self._heartbeat,
            timeout=self._connect_timeout,
        )

    async def _open_process(
        self,
        kind: type[ProcessBase],
        command: Command,
        session_id: str,
        attach: Attach | None,
        resume: ResumeOptions | None,
    ) -> ProcessBase:
        if attach is not None and self.version < ProtocolVersion.V2:
            raise NotSupported("sessions need protocol v2; this execer speaks only v1")
        owned = None
        if self._share:
            http_session = self._get_http_session()
        else:
            http_session = owned = _new_http_session()
        try:
            ws = await self._open(http_session)
        except BaseException:
            if owned is not None:
                await owned.close()
            raise

        async def reconnect() -> aiohttp.ClientWebSocketResponse[Any]:
            return await self._open(http_session)

        return await start_on(
            ws,
            command,
            kind=kind,
            session_id=session_id,
            limit=self.limit,
            timeout=self._connect_timeout,
            owned_http_session=owned,
            attach=attach,
            reconnect=reconnect,
            resume=resume,
        )


async def start_on(
    ws: aiohttp.ClientWebSocketResponse[Any],
    command: Command,
    *,
    kind: type[ProcessBase] = RemoteProcess,
    session_id: str = "",
    limit: int = DEFAULT_LIMIT,
    owned_http_session: aiohttp.ClientSession | None = None,
    timeout: float | None = None,
    attach: Attach | None = None,
    reconnect: Reconnect | None = None,
    resume: ResumeOptions | None = None,
) -> ProcessBase:
    """Start ``command`` on an open WebSocket; the version follows its subprotocol.

    ``timeout`` bounds the wait for the pid (a server that accepted the
    connection but never answers raises :class:`StartFailed`).
    """
    version = negotiated_version(ws)
    if attach is not None:
        try:
            require_v2(ws, "resumable jobs and attaching to sessions")
        except NotSupported:
            with contextlib.suppress(Exception):
                await ws.close()
            if owned_http_session is not None:
                await owned_http_session.close()
            raise
    connection = Connection(Role.CLIENT, version)
    process = kind(
        ws,
        connection,
        command,
        limit=limit,
        owned_http_session=owned_http_session,
        reconnect=reconnect,
        resume=resume,
    )
    try:
        await asyncio.wait_for(process._start(session_id, attach=attach), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        await process.close()
        raise StartFailed(
            f"cannot start {command.command}: no answer from the server within {timeout:g} s"
        ) from None
    except ConnectionLost:
        raise
    except (ConnectionError, RuntimeError) as exc:
        await process.close()
        raise ConnectError(f"connection lost while starting: {exc}") from exc
    return process


class WebSocketExecer(_ExecerBase):
    """An execer over one already-open WebSocket (as Go's ``wsep.RemoteExecer(conn)``).

    v1 runs one process per connection, so :meth:`start` works once.
    """

    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse[Any], *, limit: int = DEFAULT_LIMIT
    ) -> None:
        self._ws: aiohttp.ClientWebSocketResponse[Any] | None = ws
        self.limit = limit

    async def _start_as(
        self,
        kind: type[ProcessBase],
        command: Command,
        *,
        session_id: str = "",
        resumable: bool = False,
        resume: ResumeOptions | None = None,
    ) -> ProcessBase:
        if self._ws is None:
            raise LocalProtocolError("this WebSocket already ran a process (one per connection)")
        ws, self._ws = self._ws, None
        attach = Attach(session_id, command=command, resumable=True) if resumable else None
        return await start_on(
            ws,
            command,
            kind=kind,
            session_id=session_id,
            limit=self.limit,
            attach=attach,
            resume=resume,
        )


def _new_http_session() -> aiohttp.ClientSession:
    """An http_session without aiohttp's 100-connection cap: each process holds one
    WebSocket for its whole life, so the 101st concurrent process would wait forever."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


if TYPE_CHECKING:  # the client's execer and processes satisfy the protocol's interfaces

    def _is_execer(execer: RemoteExecer, ws_execer: WebSocketExecer) -> tuple[Execer, Execer]:
        return execer, ws_execer

    def _is_process(process: ExecerProcess) -> Process:
        return process


def http_session_argument(
    http_session: aiohttp.ClientSession | None, session: aiohttp.ClientSession | None
) -> aiohttp.ClientSession | None:
    """``http_session``, or the deprecated ``session=`` keyword when given."""
    if session is None:
        return http_session
    _deprecated("session=", "http_session=")
    return session


def _deprecated(old: str, new: str, stacklevel: int = 4) -> None:
    warnings.warn(
        f"{old} is deprecated: use {new} (an aiohttp.ClientSession, not a wsep session)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
