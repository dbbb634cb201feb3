"""aiohttp's ``WebSocketResponse``, made to give every close a reason.

aiohttp answers frame-level errors (a message over the size limit, a bad
opcode, reserved bits) with the right close code but an empty reason. The
exception it is handling names the problem, so the close frame carries that.

aiohttp also warns when none of the client's subprotocols is one the response
accepts, quoting them all. wsep picks the subprotocol itself (an offer it can
answer nothing to is refused before the upgrade, see
:func:`wsep_protocol.negotiate`), so that warning is noise when every entry is
wsep's, and it would quote a ``wsep.token.`` entry in full to any log an
embedding application has not scrubbed. :func:`quiet_negotiation` drops the
first kind and redacts the token in the rest.
"""

from __future__ import annotations

import contextlib
import logging
import sys

from aiohttp import WSCloseCode, web
from aiohttp.http_websocket import WebSocketError
from wsep_protocol import (
    SUBPROTOCOL_PREFIX,
    TOKEN_SUBPROTOCOL_PREFIX,
    Error,
    ErrorCode,
    encode,
    truncate_reason,
)

__all__ = ["WsepWebSocketResponse", "quiet_negotiation"]


_ERROR_CODES: dict[int, ErrorCode] = {
    WSCloseCode.MESSAGE_TOO_BIG: ErrorCode.MESSAGE_TOO_BIG,
    WSCloseCode.INVALID_TEXT: ErrorCode.MALFORMED_MESSAGE,
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
                    kind = _ERROR_CODES.get(code, ErrorCode.PROTOCOL_VIOLATION)
                    with contextlib.suppress(Exception):
                        await self.send_bytes(encode(Error(kind.value, text, code)))
        return await super().close(code=code, message=message, drain=drain)


def _describe(exc: WebSocketError) -> str:
    text = str(exc.args[1] if len(exc.args) > 1 else exc)
    if exc.code == WSCloseCode.MESSAGE_TOO_BIG and text.startswith("Message size"):
        return "message too big: " + text[len("Message size ") :]
    return text


class _NegotiationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if "overlap" not in str(record.msg) or not isinstance(args, tuple) or len(args) < 2:
            return True
        offered = args[1]
        if not isinstance(offered, list):
            return True
        if all(isinstance(e, str) and e.startswith(SUBPROTOCOL_PREFIX) for e in offered):
            return False
        cleaned = [
            TOKEN_SUBPROTOCOL_PREFIX + "[redacted]"
            if isinstance(e, str) and e.startswith(TOKEN_SUBPROTOCOL_PREFIX)
            else e
            for e in offered
        ]
        record.args = (args[0], cleaned, *args[2:])
        return True


_FILTER = _NegotiationFilter()


def quiet_negotiation() -> None:
    """Attach the filter to aiohttp's WebSocket logger (once; idempotent)."""
    logger = logging.getLogger("aiohttp.websocket")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
