"""How a resumable job or a terminal session reconnects after its connection drops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from wsep_protocol import Connection, Role
from wsep_protocol.sessions import Attach

from .errors import ClientError, ConnectionLost, NotSupported
from .sessions import require_v2

if TYPE_CHECKING:
    from aiohttp import ClientWebSocketResponse

__all__ = ["Drop", "GapPolicy", "Reconnect", "ResumeOptions", "reopen"]

#: Opens a new WebSocket to the same server (for resuming a job).
Reconnect = Callable[[], Awaitable["ClientWebSocketResponse[Any]"]]

#: ``"raise"``: evicted bytes end the output with :class:`OutputGap`;
#: ``"mark"``: they are recorded in ``RemoteProcess.gaps`` and output goes on.
GapPolicy = Literal["raise", "mark"]


@dataclass(frozen=True)
class ResumeOptions:
    """Bounded retries with exponential backoff, and what a ``gap`` does.

    ``retries`` 0 turns automatic resumption off (the drop is reported as
    :class:`ConnectionLost`; the job keeps running and ``attach`` can resume it).
    ``terminals``: a terminal session (``tty`` with a ``session_id``) is
    reattached too; its stdout then goes on with a redraw of the current
    screen, not with the bytes missed meanwhile.
    """

    retries: int = 5
    backoff: float = 0.2
    max_backoff: float = 5.0
    on_gap: GapPolicy = "raise"
    terminals: bool = True

    def delays(self) -> list[float]:
        """Seconds to wait before each attempt (none before the first)."""
        out: list[float] = []
        delay = self.backoff
        for attempt in range(self.retries):
            out.append(0.0 if attempt == 0 else delay)
            if attempt:
                delay = min(delay * 2, self.max_backoff)
        return out


@dataclass(frozen=True)
class Drop:
    """How a connection ended before the exit code."""

    code: int | None
    reason: str
    abnormal: bool  # the network went away (no close frame): worth resuming
    error: Exception | None = None

    def describe(self) -> str:
        if self.error is not None:
            return f"{self.error}"
        return f"close code {self.code}" + (f" ({self.reason})" if self.reason else "")


async def reopen(
    reconnect: Reconnect,
    attach: Callable[[], Attach],
    options: ResumeOptions,
    drop: Drop,
    closed: Callable[[], bool],
) -> tuple[ClientWebSocketResponse[Any], Connection]:
    """Open a new connection and send ``attach()`` on it: bounded retries with backoff.

    Raises :class:`ConnectionLost` when every attempt failed (or ``closed()``
    became true), :class:`NotSupported` when the server no longer speaks v2.
    """
    last = drop.describe()
    message = attach()
    for delay in options.delays():
        if delay:
            await asyncio.sleep(delay)  # backoff between attempts, not synchronisation
        if closed():
            break
        try:
            ws = await reconnect()
        except (ClientError, OSError, RuntimeError, asyncio.TimeoutError) as exc:
            last = f"{exc}"  # RuntimeError: the http_session was closed meanwhile
            continue
        try:
            version = require_v2(ws, "resuming")
        except NotSupported:
            with contextlib.suppress(Exception):
                await ws.close()
            raise NotSupported("cannot resume: the server no longer speaks wsep v2") from None
        conn = Connection(Role.CLIENT, version)
        try:
            await ws.send_bytes(conn.send(message))
        except Exception as exc:
            last = f"{exc}"
            with contextlib.suppress(Exception):
                await ws.close()
            continue
        return ws, conn
    raise ConnectionLost(
        f"connection lost ({drop.describe()}) and {options.retries} attempt(s) "
        f"to resume session {message.id!r} failed: {last}",
        close_code=drop.code,
        reason=drop.reason,
    )
