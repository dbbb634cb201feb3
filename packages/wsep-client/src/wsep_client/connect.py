"""``connect()``: a :class:`RemoteExecer` for a server, checked before it is handed out."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Mapping
from typing import Any

import aiohttp
from wsep_protocol import ProtocolVersion

from .errors import InvalidURL
from .execer import RemoteExecer, http_session_argument
from .handshake import SSLArg
from .streams import DEFAULT_LIMIT

__all__ = ["Connecting", "connect"]


class Connecting:
    """What :func:`connect` returns: ``await`` it, or use it with ``async with``."""

    def __init__(self, make: Callable[[], RemoteExecer], check: bool) -> None:
        self._make = make
        self._check = check
        self._execer: RemoteExecer | None = None

    async def _open(self) -> RemoteExecer:
        execer = self._make()
        if self._check:
            try:
                await execer.check()
            except BaseException:
                await execer.close()
                raise
        return execer

    def __await__(self) -> Generator[Any, None, RemoteExecer]:
        return self._open().__await__()

    async def __aenter__(self) -> RemoteExecer:
        self._execer = await self._open()
        return self._execer

    async def __aexit__(self, *exc: object) -> None:
        if self._execer is not None:
            execer, self._execer = self._execer, None
            await execer.close()


def connect(
    url: str | None = None,
    *,
    http_session: aiohttp.ClientSession | None = None,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    ssl: SSLArg = True,
    version: ProtocolVersion = ProtocolVersion.V2,
    heartbeat: float | None = None,
    connect_timeout: float | None = 30.0,
    limit: int = DEFAULT_LIMIT,
    check: bool = True,
    session: aiohttp.ClientSession | None = None,
) -> Connecting:
    """A :class:`RemoteExecer` for the server at ``url``, as ``websockets.connect`` does it.

    ``async with connect(url) as remote:`` closes it at the end; ``remote =
    await connect(url)`` leaves that to you (``await remote.close()``).
    ``url`` and ``token`` default to ``$WSEP_URL`` and ``$WSEP_TOKEN``. A
    malformed URL raises :class:`InvalidURL` at once; then (``check=True``)
    one WebSocket is opened and closed, so that an unreachable server, an
    untrusted certificate or a refused token raise here, not at the first
    command. Each command still gets a WebSocket of its own; a caller's
    ``http_session`` (an ``aiohttp.ClientSession``; ``session=`` is its
    deprecated name) is used and left open.
    """
    if url is None:
        url = os.environ.get("WSEP_URL") or None
        if url is None:
            raise InvalidURL("no server URL: pass one to connect() or set WSEP_URL")
    if token is None:
        token = os.environ.get("WSEP_TOKEN") or None
    http_session = http_session_argument(http_session, session)

    def make() -> RemoteExecer:
        return RemoteExecer(
            url,
            http_session=http_session,
            token=token,
            headers=headers,
            ssl=ssl,
            version=version,
            heartbeat=heartbeat,
            connect_timeout=connect_timeout,
            limit=limit,
        )

    make().url  # noqa: B018 -- validates the URL now, before any await
    return Connecting(make, check)
