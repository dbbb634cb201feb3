"""``POST /api/check``: may this page connect, and as whom?

A browser never learns the HTTP status of a refused WebSocket handshake (it
sees close 1006), so the web terminal asks here first. The route sits behind
the same middlewares as the WebSocket (host, origin, authentication): a
wrong token gets the same 401, a foreign origin the same 403, each with its
reason in ``X-Wsep-Error``. A POST, because browsers send ``Origin`` with it
even from the same origin. It starts nothing.
"""

from __future__ import annotations

import socket

from aiohttp import web

from ..app import HANDLER_KEY
from ..hooks import IDENTITY_KEY

__all__ = ["check_handler"]


async def check_handler(request: web.Request) -> web.Response:
    identity = request.get(IDENTITY_KEY)
    handler = request.app.get(HANDLER_KEY)
    versions = sorted(int(v) for v in handler.versions) if handler is not None else []
    return web.json_response(
        {
            "ok": True,
            "identity": identity.name if identity is not None else None,
            "versions": versions,
            "host": socket.gethostname(),
        },
        headers={"Cache-Control": "no-store"},
    )
