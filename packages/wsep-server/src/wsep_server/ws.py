"""aiohttp's ``WebSocketResponse``, made to give every close a reason.

aiohttp answers frame-level errors (a message over the size limit, a bad
opcode, reserved bits) with the right close code but an empty reason. The
exception it is handling names the problem, so the close frame carries that.
"""

from __future__ import annotations

import contextlib
import sys

from aiohttp import WSCloseCode, web
from aiohttp.http_websocket import WebSocketError
from wsep_protocol import Error, encode, truncate_reason

__all__ = ["WsepWebSocketResponse"]


_ERROR_CODES: dict[int, str] = {
    WSCloseCode.MESSAGE_TOO_BIG: "message_too_big",
    WSCloseCode.INVALID_TEXT: "malformed_message",
}


class WsepWebSocketResponse(web.WebSocketResponse):
    #: Set for v2 connections: frame-level errors are reported in an ``error`` message too.
    error_messages = False

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        if not message and code != WSCloseCode.OK:
            # Called by receive() from inside its ``except WebSocketError`` block.
            exc = sys.exc_info()[1]
            if isinstance(exc, WebSocketError) and exc.code == code:
                text = _describe(exc)
                message = truncate_reason(text).encode("utf-8")
                if self.error_messages and not self.closed:
                    kind = _ERROR_CODES.get(code, "protocol_violation")
                    with contextlib.suppress(Exception):
                        await self.send_bytes(encode(Error(kind, text, code)))
        return await super().close(code=code, message=message, drain=drain)


def _describe(exc: WebSocketError) -> str:
    text = str(exc.args[1] if len(exc.args) > 1 else exc)
    if exc.code == WSCloseCode.MESSAGE_TOO_BIG and text.startswith("Message size"):
        return "message too big: " + text[len("Message size ") :]
    return text
