"""The one place that reaches into aiohttp's internals, because no public API offers it.

While the client stops reading a WebSocket (its output buffers are full),
aiohttp stops reading the socket too, and a lost connection would go
unnoticed until the next ping fails. aiohttp's protocol object resolves a
``closed`` future when the TCP connection is lost; this exposes it. It was
checked against aiohttp 3.9 to 3.14 (``tests/client/test_aiohttp_internals.py``
fails when the installed aiohttp leaves that range, or stops providing it).
When it is not there, callers fall back to their periodic ping.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._futures import consume_exception

if TYPE_CHECKING:
    from aiohttp import ClientWebSocketResponse

__all__ = ["CHECKED_AIOHTTP", "connection_lost_future"]

#: The aiohttp versions (from, before) this module was checked against.
CHECKED_AIOHTTP = ((3, 9), (4, 0))


def connection_lost_future(ws: ClientWebSocketResponse[Any]) -> asyncio.Future[None] | None:
    """The future aiohttp resolves when ``ws``'s TCP connection is lost; None if unavailable.

    It is only ever waited on: its error (the loss) is consumed here, so that it
    is not logged as "Future exception was never retrieved".
    """
    try:
        connection = ws._conn
        protocol = None if connection is None else connection.protocol
        closed = None if protocol is None else protocol.closed
    except AttributeError:  # an aiohttp that keeps these elsewhere
        return None
    if not isinstance(closed, asyncio.Future):
        return None
    closed.add_done_callback(consume_exception)
    return closed
