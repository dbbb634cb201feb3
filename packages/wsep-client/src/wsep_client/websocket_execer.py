"""Starting a process on an open WebSocket, and ``WebSocketExecer`` (one such WebSocket)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from wsep_protocol import Command, Connection, Role
from wsep_protocol.sessions import Attach

from ._execer_base import ExecerBase
from .errors import ConnectError, ConnectionLost, LocalProtocolError, NotSupported, StartFailed
from .handshake import negotiated_version
from .process import ProcessBase, RemoteProcess
from .resume import Reconnect, ResumeOptions
from .sessions import require_v2
from .streams import DEFAULT_LIMIT

__all__ = ["WebSocketExecer", "start_on"]


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


class WebSocketExecer(ExecerBase):
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
