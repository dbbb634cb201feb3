"""aiohttp's ``WebSocketResponse``, made to give every close a reason.

aiohttp answers frame-level errors (a message over the size limit, a bad
opcode, reserved bits) with the right close code but an empty reason. The
exception it is handling names the problem, so the close frame carries that.
"""

from __future__ import annotations

import sys

from aiohttp import WSCloseCode, web
from aiohttp.http_websocket import WebSocketError
from wsep_protocol import truncate_reason

__all__ = ["WsepWebSocketResponse"]


class WsepWebSocketResponse(web.WebSocketResponse):
    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        if not message and code != WSCloseCode.OK:
            # Called by receive() from inside its ``except WebSocketError`` block.
            exc = sys.exc_info()[1]
            if isinstance(exc, WebSocketError) and exc.code == code:
                message = truncate_reason(_describe(exc)).encode("utf-8")
        return await super().close(code=code, message=message, drain=drain)


def _describe(exc: WebSocketError) -> str:
    text = str(exc.args[1] if len(exc.args) > 1 else exc)
    if exc.code == WSCloseCode.MESSAGE_TOO_BIG and text.startswith("Message size"):
        return "message too big: " + text[len("Message size ") :]
    return text
