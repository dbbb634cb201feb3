"""The aiohttp ``ClientSession`` a client opens WebSockets with (its ``http_session``)."""

from __future__ import annotations

import warnings

import aiohttp

__all__ = ["http_session_argument", "new_http_session"]


def new_http_session() -> aiohttp.ClientSession:
    """An http_session without aiohttp's 100-connection cap: each process holds one
    WebSocket for its whole life, so the 101st concurrent process would wait forever."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


def http_session_argument(
    http_session: aiohttp.ClientSession | None, session: aiohttp.ClientSession | None
) -> aiohttp.ClientSession | None:
    """``http_session``, or the deprecated ``session=`` keyword when given."""
    if session is None:
        return http_session
    deprecated("session=", "http_session=")
    return session


def deprecated(old: str, new: str, stacklevel: int = 4) -> None:
    warnings.warn(
        f"{old} is deprecated: use {new} (an aiohttp.ClientSession, not a wsep session)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
