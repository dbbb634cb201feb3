"""What one connection holds, and the one way it ends (:meth:`ConnectionBase.end`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine, Sequence
from typing import Any

from aiohttp import web
from wsep_protocol import (
    Buffer,
    CloseCode,
    Connection,
    DrainAwareWriter,
    Error,
    ErrorCode,
    Execer,
    ExitStatus,
    Process,
    ProcessWriter,
    ProtocolVersion,
    Role,
    truncate_reason,
)

from ..client_address import CLIENT_ADDRESS_KEY
from ..config import ServerConfig
from ..flow import OutputGate
from ..hooks import (
    IDENTITY_KEY,
    ConnectionObserver,
    ConnectionRecord,
    Identity,
    RunLimits,
    StartPolicy,
)
from ..policy.decision import StartDecision
from ..pump import OutputPump
from ..sessions import SessionManager
from ..sessions.serving import session_service
from ..tasks import OwnedTasks

__all__ = ["ConnectionBase"]

_log = logging.getLogger(__name__)


class ConnectionBase:
    """The state of one wsep connection that the handler's parts share."""

    def __init__(
        self,
        *,
        request: web.Request,
        ws: web.WebSocketResponse,
        version: ProtocolVersion,
        execer: Execer,
        config: ServerConfig,
        policy: StartPolicy,
        observers: Sequence[ConnectionObserver] = (),
        session_manager: SessionManager | None = None,
    ) -> None:
        self.request = request
        self.ws = ws
        self.execer = execer
        self.config = config
        self.policy = policy
        self.observers = observers
        self.conn = Connection(Role.SERVER, version, max_receive_size=config.max_receive_size)
        identity = request.get(IDENTITY_KEY)
        self.record = ConnectionRecord(
            id=secrets.token_hex(8),
            identity=identity if isinstance(identity, Identity) else None,
            peer=_peer(request),
            protocol_version=int(version),
        )
        #: Reattachable sessions as this connection sees them (``NoSessions`` when off).
        self.sessions = session_service(
            session_manager, identity=self.record.identity, peer=self.record.peer
        )
        #: The policy's answer to this connection's start (None until asked).
        self.decision: StartDecision | None = None
        self.limits = RunLimits()
        self.process: Process | None = None
        #: The stdin writer last written to, and the same if it says when to drain.
        self._stdin: ProcessWriter | None = None
        self._stdin_hint: DrainAwareWriter | None = None
        self.status: ExitStatus | None = None
        self._pump: OutputPump | None = None
        self.flow = OutputGate()
        self._pump_task: asyncio.Task[None] | None = None
        self._ending = False
        self._ended = asyncio.Event()
        self._closing = asyncio.Event()
        self._limit_close: tuple[int, str] | None = None
        self._timers: list[asyncio.TimerHandle] = []
        #: Work started in the background (ends, limits); cancelled at cleanup.
        self._tasks = OwnedTasks(_log, f"connection {self.record.id}")
        self._loop = asyncio.get_running_loop()

    async def end(
        self,
        close_code: int,
        reason: str,
        end_reason: str,
        *,
        error: tuple[ErrorCode | str, str] | None = None,
    ) -> None:
        """End the connection once: optional v2 ``error`` (code, message), then the close.

        Later calls do nothing, so the first cause is the one reported.
        """
        if self._ending:
            return
        self._ending = True
        self._set_reason(end_reason)
        self.record.close_code = close_code
        if error is not None and self.conn.extended and not self.ws.closed:
            with contextlib.suppress(Exception):
                message = Error(error[0], error[1], close_code)  # a member goes as its value
                await self.ws.send_bytes(self.conn.send(message))
        self._closing.set()
        await self._close_ws(close_code, reason)

    async def shutdown(self) -> None:
        """End for a server shutdown (close 1001), and wait until cleaned up."""
        await self.end(
            CloseCode.GOING_AWAY,
            "server shutting down",
            "server shutdown",
            error=(ErrorCode.SERVER_SHUTDOWN, "the server is shutting down"),
        )
        await self._ended.wait()

    async def _close_ws(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=truncate_reason(reason).encode("utf-8"))

    def _set_reason(self, reason: str) -> None:
        if not self.record.end_reason:
            self.record.end_reason = reason

    async def _send(self, data: Buffer) -> None:
        await self.ws.send_bytes(data)  # type: ignore[arg-type]

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        self._tasks.spawn(coro, what)


def _peer(request: web.Request) -> str:
    forwarded = request.get(CLIENT_ADDRESS_KEY)  # a trusted proxy's word (client_address.py)
    if isinstance(forwarded, str) and forwarded:
        return forwarded
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    if peer:
        return str(peer)
    return request.remote or ""
