"""``RemoteExecer``: starts processes on a wsep server, one WebSocket each.

The command helpers live in :mod:`.commands`, ``create_process``/``run`` in
:mod:`._execer_base`, starting on an open WebSocket and ``WebSocketExecer`` in
:mod:`.websocket_execer`; they are imported here too, where they always were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from wsep_protocol import Command, Execer, Process, ProtocolVersion
from wsep_protocol.sessions import (
    Attach,
    EndSession,
    GetSession,
    ListSessions,
    SessionDescription,
    SessionDetails,
    SessionList,
)

from ._execer_base import ExecerBase
from ._http_session import deprecated, http_session_argument, new_http_session
from .commands import CommandArg, build_command, check_url, command_argv, text_encoding
from .errors import NotSupported
from .handshake import SSLArg, open_websocket
from .process import ExecerProcess, ProcessBase, RemoteProcess
from .resume import ResumeOptions
from .sessions import request
from .streams import DEFAULT_LIMIT
from .websocket_execer import WebSocketExecer, start_on

__all__ = [
    "CommandArg",
    "RemoteExecer",
    "WebSocketExecer",
    "build_command",
    "check_url",
    "command_argv",
    "http_session_argument",
    "start_on",
    "text_encoding",
]


class RemoteExecer(ExecerBase):
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
            deprecated("share_session=", "share_http_session=", stacklevel=3)
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
            self._http_session = new_http_session()
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
            http_session = owned = new_http_session()
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


if TYPE_CHECKING:  # the client's execer and processes satisfy the protocol's interfaces

    def _is_execer(execer: RemoteExecer, ws_execer: WebSocketExecer) -> tuple[Execer, Execer]:
        return execer, ws_execer

    def _is_process(process: ExecerProcess) -> Process:
        return process
