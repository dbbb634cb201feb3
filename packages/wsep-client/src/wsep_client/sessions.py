"""Session management over one v2 connection: list, describe and end sessions."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from wsep_protocol import SUBPROTOCOL_V2, Connection, Error, ProtocolVersion, Role
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

__all__ = ["NoSuchSession", "SessionDescription", "request"]

_DATA = (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT)


def require_v2(ws: aiohttp.ClientWebSocketResponse[Any], what: str) -> None:
    """Raise :class:`NotSupported` unless the server chose the v2 subprotocol."""
    if ws.protocol != SUBPROTOCOL_V2:
        raise NotSupported(f"{what} needs a wsep v2 server; this one speaks v1")


async def request(
    ws: aiohttp.ClientWebSocketResponse[Any],
    message: ListSessions | GetSession | EndSession,
    timeout: float | None,
) -> SessionList | SessionDetails | SessionEnded:
    """Send one management request and return its answer; the caller closes ``ws``.

    Raises :class:`NoSuchSession` for an unknown id (or another identity's).
    """
    require_v2(ws, "session management")
    conn = Connection(Role.CLIENT, ProtocolVersion.V2)
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
        if error is not None and error.code == NoSuchSession.code:
            raise NoSuchSession(error.message)
        detail = f"{error.code}: {error.message}" if error else f"close code {ws.close_code}"
        raise ConnectionLost(f"no answer to {type(message).__name__}: {detail}")

    try:
        return await asyncio.wait_for(answer(), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        raise ConnectionLost(
            f"no answer to {type(message).__name__} within {timeout:g} s"
        ) from None
    finally:
        with contextlib.suppress(Exception):
            await ws.close()
