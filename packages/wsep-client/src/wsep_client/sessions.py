"""Session management over one v2 connection: list, describe and end sessions."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from wsep_protocol import Connection, Error, ProtocolVersion, Role
from wsep_protocol.sessions import (
    EndSession,
    GetSession,
    ListSessions,
    SessionDescription,
    SessionDetails,
    SessionEnded,
    SessionList,
)

from .errors import ConnectionLost, NoSuchSession, NotSupported
from .handshake import negotiated_version
from .remote_errors import connection_failure

__all__ = ["NoSuchSession", "SessionDescription", "request"]

_DATA = (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT)


def require_v2(ws: aiohttp.ClientWebSocketResponse[Any], what: str) -> ProtocolVersion:
    """The negotiated version; :class:`NotSupported` unless it is v2 or newer."""
    version = negotiated_version(ws)
    if version < ProtocolVersion.V2:
        raise NotSupported(f"{what} needs a wsep v2 server; this one speaks v1")
    return version


async def request(
    ws: aiohttp.ClientWebSocketResponse[Any],
    message: ListSessions | GetSession | EndSession,
    timeout: float | None,
) -> SessionList | SessionDetails | SessionEnded:
    """Send one management request and return its answer; the caller closes ``ws``.

    Raises :class:`NoSuchSession` for an unknown id (or another identity's).
    """
    conn = Connection(Role.CLIENT, require_v2(ws, "session management"))
    await ws.send_bytes(conn.send(message))
    error: Error | None = None

    async def answer() -> SessionList | SessionDetails | SessionEnded:
        nonlocal error
        while True:
            msg = await ws.receive()
            if msg.type not in _DATA:
                break
            reply = conn.receive(msg.data)
            if isinstance(reply, (SessionList, SessionDetails, SessionEnded)):
                return reply
            if isinstance(reply, Error):
                error = reply
        reason = msg.extra if isinstance(msg.extra, str) else ""
        what = f"no answer to {type(message).__name__}"
        raise connection_failure(error, ws.close_code, reason, what=what)

    try:
        return await asyncio.wait_for(answer(), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        raise ConnectionLost(
            f"no answer to {type(message).__name__} within {timeout:g} s"
        ) from None
    finally:
        with contextlib.suppress(Exception):
            await ws.close()
