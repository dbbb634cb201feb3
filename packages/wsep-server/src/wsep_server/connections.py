"""Bound what unauthenticated connections may hold: slots, per peer and in all; fds.

Until a connection has authenticated it is a stranger's: idle sockets cost
file descriptors, and enough of them stalled real starts. :class:`ConnectionGuard`
counts such pending connections (globally and per peer address) and closes a
new one at once when a bound is reached; a connection leaves the count when
a request on it authenticates (the middleware) or when it closes. Idle ones
are closed by the server's header timeout (``--header-timeout``).
:func:`raise_fd_limit` lifts the soft descriptor limit to the hard one.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .hooks import IDENTITY_KEY

__all__ = ["ConnectionGuard", "GuardedRunner", "raise_fd_limit"]

_log = logging.getLogger("wsep_server.connections")

#: The soft limit when the hard one is "unlimited" (the kernel's nr_open default).
_UNLIMITED_CAP = 1 << 20


def raise_fd_limit() -> int:
    """Lift ``RLIMIT_NOFILE``'s soft limit to the hard one; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _UNLIMITED_CAP if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            _log.warning("could not raise the file descriptor limit from %d", soft)
    return soft


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, (tuple, list)) and peer:
        return str(peer[0])
    return str(peer or "")


class ConnectionGuard:
    """Counts connections that have not authenticated; refuses those over the bounds."""

    def __init__(self, *, max_total: int = 1024, max_per_peer: int = 128) -> None:
        if max_total < 1 or max_per_peer < 1:
            raise ValueError("connection bounds must be at least 1")
        self.max_total = max_total
        self.max_per_peer = max_per_peer
        self._pending: dict[asyncio.BaseTransport, str] = {}
        self._per_peer: Counter[str] = Counter()
        self.refused = 0
        self._last_warning = 0.0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Count a new connection; False (the caller closes it) when a bound is reached."""
        peer = _peer(transport)
        if len(self._pending) >= self.max_total or self._per_peer[peer] >= self.max_per_peer:
            self.refused += 1
            self._warn(peer)
            return False
        self._pending[transport] = peer
        self._per_peer[peer] += 1
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        """The connection authenticated or closed: it no longer counts."""
        peer = self._pending.pop(transport, None)
        if peer is None:
            return
        self._per_peer[peer] -= 1
        if self._per_peer[peer] <= 0:
            del self._per_peer[peer]

    def _warn(self, peer: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 10.0:  # one line per 10 s, not one per socket
            self._last_warning = now
            _log.warning(
                "closing unauthenticated connections (last from %s; %d so far): "
                "at most %d in all and %d per peer",
                peer or "?",
                self.refused,
                self.max_total,
                self.max_per_peer,
            )

    def middleware(self, *, authenticated: bool = True) -> Middleware:
        """Releases a connection once a request on it has an identity.

        Put it after the authentication middleware. ``authenticated=False``
        (a server without authentication) releases on the first request.
        """

        @web.middleware
        async def release_authenticated(
            request: web.Request, handler: Handler
        ) -> web.StreamResponse:
            transport = request.transport
            if transport is not None and (
                not authenticated or request.get(IDENTITY_KEY) is not None
            ):
                self.release(transport)
            return await handler(request)

        return release_authenticated


class GuardedRunner(web.AppRunner):
    """An ``AppRunner`` whose server lets :class:`ConnectionGuard` admit each connection."""

    def __init__(self, app: web.Application, *, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.guard = guard

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        guard = self.guard
        made = server.connection_made
        lost = server.connection_lost
        transports: dict[Any, asyncio.Transport] = {}

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            made(handler, transport)
            transports[handler] = transport
            if not guard.admit(transport):
                transport.abort()

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            transport = transports.pop(handler, None)
            if transport is not None:
                guard.release(transport)
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]
        return server
