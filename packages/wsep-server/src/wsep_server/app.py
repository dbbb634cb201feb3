"""The aiohttp application and the request handler that serves wsep.

``create_app()`` gives a ready application (the handler on ``path`` plus
``GET /healthz``). To serve wsep inside your own aiohttp application, mount a
:class:`WsepHandler` on any route and register its shutdown hook::

    handler = WsepHandler(execer=my_execer)
    app.router.add_get("/exec", handler.handle)
    app.on_shutdown.append(handler.on_shutdown)
    app.on_cleanup.append(handler.on_cleanup)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware
from wsep_protocol import (
    TOKEN_SUBPROTOCOL_PREFIX,
    ClosableExecer,
    Execer,
    ProtocolVersion,
    SubprotocolRefused,
    negotiate,
    offered_subprotocols,
)

from .config import ServerConfig
from .handler import ConnectionHandler
from .hooks import AllowAll, ConnectionObserver, StartPolicy
from .logs import ConnectionLogObserver
from .policy.legacy import LegacyStartPolicy, as_start_policy
from .sessions import SessionManager
from .ws import WsepWebSocketResponse, quiet_negotiation

__all__ = [
    "CONFIG_KEY",
    "EXECER_KEY",
    "HANDLER_KEY",
    "TOKEN_SUBPROTOCOL_PREFIX",
    "WsepHandler",
    "create_app",
    "default_execer",
]

_log = logging.getLogger("wsep_server.app")

CONFIG_KEY = web.AppKey("wsep_config", ServerConfig)
EXECER_KEY = web.AppKey[Execer]("wsep_execer")


def default_execer(config: ServerConfig | None = None, **options: Any) -> Execer:
    """The local execer (processes on this machine); ``options`` go to ``LocalExecer``."""
    from .local import LocalExecer  # imported late: it is the only one that forks

    if config is None:
        return LocalExecer(**options)
    return LocalExecer(grace_period=min(config.grace_period, 2.0), **options)


class WsepHandler:
    """Serves wsep on whatever route it is mounted; tracks its live connections."""

    def __init__(
        self,
        *,
        execer: Execer | None = None,
        config: ServerConfig | None = None,
        policy: StartPolicy | LegacyStartPolicy | None = None,
        observers: Iterable[ConnectionObserver] = (),
        versions: Iterable[ProtocolVersion] = (ProtocolVersion.V1, ProtocolVersion.V2),
        log_connections: bool = True,
        handler_class: type[ConnectionHandler] = ConnectionHandler,
        session_manager: SessionManager | None = None,
        session_class: type[ConnectionHandler] | None = None,
        reattachable_sessions: bool = True,
        log_sessions: bool | None = None,
    ) -> None:
        log_connections = _log_connections(log_connections, log_sessions)
        #: What serves each connection (a :class:`ConnectionHandler` subclass).
        self.handler_class = _handler_class(handler_class, session_class)
        self.config = config if config is not None else ServerConfig()
        self.execer = execer if execer is not None else default_execer(self.config)
        self.policy: StartPolicy = as_start_policy(policy) if policy is not None else AllowAll()
        observer_list: list[ConnectionObserver] = list(observers)
        if log_connections:
            observer_list.insert(0, ConnectionLogObserver())
        self.observers: Sequence[ConnectionObserver] = tuple(observer_list)
        self.versions = frozenset(versions)
        if not self.versions:
            raise ValueError("a server must speak at least one protocol version")
        #: The connections being served now.
        self.connections: set[ConnectionHandler] = set()
        #: Reattachable sessions (``start`` with ``id`` and ``tty``; v2 ``attach``);
        #: None when they are off (every start is an ordinary process).
        self.session_manager: SessionManager | None = None
        if reattachable_sessions:
            self.session_manager = (
                session_manager if session_manager is not None else SessionManager(self.execer)
            )
        self._shutting_down = False
        quiet_negotiation()

    def select(self, request: web.BaseRequest) -> tuple[ProtocolVersion, str | None]:
        """The version for this request and the subprotocol to answer with.

        Raises :class:`SubprotocolRefused` when the offer names no version this
        server speaks (see :func:`wsep_protocol.negotiate`).
        """
        offered = offered_subprotocols(request.headers.getall(hdrs.SEC_WEBSOCKET_PROTOCOL, []))
        return negotiate(offered, self.versions)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        return await self.handle(request)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler: upgrade, then serve one connection until it ends."""
        if self._shutting_down:
            raise web.HTTPServiceUnavailable(text="wsep: server is shutting down\n")
        try:
            version, subprotocol = self.select(request)
        except SubprotocolRefused as exc:
            if _wants_websocket(request):
                # Before the upgrade: a 101 without the subprotocol a browser offered
                # makes it abort with no reason at all.
                _log.info("refused a handshake: %s", exc)
                raise web.HTTPBadRequest(
                    text=f"wsep: {exc}\n", headers={"X-Wsep-Error": str(exc)}
                ) from None
            version, subprotocol = ProtocolVersion.V1, None  # not an upgrade: 426 below
        config = self.config
        ws = WsepWebSocketResponse(
            protocols=(subprotocol,) if subprotocol else (),
            compress=config.compress,
            # aiohttp refuses a message of exactly max_msg_size bytes; ours is inclusive.
            max_msg_size=config.max_receive_size + 1,
            heartbeat=config.heartbeat,
            # The connection handler answers pings itself, within its yield budget: aiohttp's
            # autoping answers a ping flood inside receive() without ever yielding.
            autoping=False,
            autoclose=False,
            timeout=config.close_timeout,
        )
        if not ws.can_prepare(request).ok:
            raise web.HTTPUpgradeRequired(
                text="wsep: connect with a WebSocket client (see the wsep README)\n",
                headers={hdrs.UPGRADE: "websocket", hdrs.CONNECTION: "Upgrade"},
            )
        ws.error_messages = version >= ProtocolVersion.V2
        await ws.prepare(request)
        connection = self.handler_class(
            request=request,
            ws=ws,
            version=version,
            execer=self.execer,
            config=config,
            policy=self.policy,
            observers=self.observers,
            session_manager=self.session_manager,
        )
        self.connections.add(connection)
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)
        return ws

    @property
    def sessions(self) -> set[ConnectionHandler]:
        """Deprecated: :attr:`connections` (these were never reattachable sessions)."""
        warnings.warn(
            "WsepHandler.sessions is deprecated: use WsepHandler.connections",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.connections

    async def on_shutdown(self, app: web.Application | None = None) -> None:
        """End every connection with 1001 and terminate its process, within the grace period."""
        self._shutting_down = True
        try:
            await self._end_connections()
        finally:
            # Detached sessions too: their processes are hung up and reaped.
            if self.session_manager is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        self.session_manager.close(), self.config.grace_period + 5.0
                    )

    async def on_cleanup(self, app: web.Application | None = None) -> None:
        """Close the execer if it is a ``ClosableExecer`` (e.g. a chained RemoteExecer)."""
        execer = self.execer
        if not isinstance(execer, ClosableExecer):
            return
        try:
            await asyncio.wait_for(execer.close(), self.config.grace_period + 5.0)
        except Exception:
            _log.exception("closing the execer failed")

    async def _end_connections(self) -> None:
        connections = list(self.connections)
        if not connections:
            return
        _log.info("shutting down %d connection(s)", len(connections))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(c.shutdown() for c in connections), return_exceptions=True),
                self.config.grace_period,
            )


HANDLER_KEY = web.AppKey("wsep_handler", WsepHandler)


def _handler_class(
    handler_class: type[ConnectionHandler], session_class: type[ConnectionHandler] | None
) -> type[ConnectionHandler]:
    """``handler_class``, or the deprecated ``session_class`` keyword when given."""
    if session_class is None:
        return handler_class
    warnings.warn(
        "session_class= is deprecated: use handler_class= (a ConnectionHandler subclass)",
        DeprecationWarning,
        stacklevel=3,
    )
    return session_class


def _wants_websocket(request: web.BaseRequest) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


async def _healthz(request: web.Request) -> web.Response:
    """Liveness only: it answers without credentials, so it tells nothing about use."""
    return web.json_response({"status": "ok"})


def create_app(
    *,
    execer: Execer | None = None,
    path: str = "/",
    config: ServerConfig | None = None,
    policy: StartPolicy | LegacyStartPolicy | None = None,
    observers: Iterable[ConnectionObserver] = (),
    middlewares: Iterable[Middleware] = (),
    versions: Iterable[ProtocolVersion] = (ProtocolVersion.V1, ProtocolVersion.V2),
    log_connections: bool = True,
    handler_class: type[ConnectionHandler] = ConnectionHandler,
    session_manager: SessionManager | None = None,
    session_class: type[ConnectionHandler] | None = None,
    reattachable_sessions: bool = True,
    log_sessions: bool | None = None,
) -> web.Application:
    """An aiohttp application serving wsep on ``path`` and ``GET /healthz``.

    ``execer`` defaults to the local execer; ``versions=(V1,)`` makes a server
    that speaks only the Go wire format; ``observers`` see every connection's
    record (the structured log line is added unless ``log_connections=False``);
    ``handler_class`` replaces the per-connection logic (a
    :class:`~wsep_server.handler.ConnectionHandler` subclass; ``session_class``
    is its deprecated name); ``session_manager`` holds the reattachable sessions
    (``reattachable_sessions=False`` turns them off: ordinary processes only);
    ``log_sessions`` is the deprecated name of ``log_connections``.
    """
    log_connections = _log_connections(log_connections, log_sessions)
    handler = WsepHandler(
        session_manager=session_manager,
        execer=execer,
        config=config,
        policy=policy,
        observers=observers,
        versions=versions,
        log_connections=log_connections,
        handler_class=_handler_class(handler_class, session_class),
        reattachable_sessions=reattachable_sessions,
    )
    app = web.Application(middlewares=list(middlewares))
    app[HANDLER_KEY] = handler
    app[CONFIG_KEY] = handler.config
    app[EXECER_KEY] = handler.execer
    app.router.add_get("/healthz", _healthz)
    app.router.add_get(path, handler.handle)
    app.on_shutdown.append(handler.on_shutdown)
    app.on_cleanup.append(handler.on_cleanup)
    return app


def _log_connections(log_connections: bool, log_sessions: bool | None) -> bool:
    if log_sessions is None:
        return log_connections
    warnings.warn(
        "log_sessions= is deprecated: use log_connections= (the line is one connection's)",
        DeprecationWarning,
        stacklevel=3,
    )
    return log_sessions
