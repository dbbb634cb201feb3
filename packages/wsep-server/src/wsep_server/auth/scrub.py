"""Keep credentials out of log lines: query tokens, subprotocol tokens, auth headers.

:class:`ScrubbingAccessLogger` is aiohttp's access logger with every field
scrubbed (pass it as ``access_log_class``); :class:`ScrubFilter` does the same
for any other logger's records (attach it to the log handlers).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

__all__ = ["REDACTED", "ScrubFilter", "ScrubbingAccessLogger", "install_scrub_filter", "scrub"]

REDACTED = "[redacted]"

_PATTERNS = (
    # ?token=..., &token=..., also percent-encoded separators and any case
    (re.compile(r"((?:[?&;]|%26|%3F)token(?:=|%3D))[^&\s\"';]*", re.IGNORECASE), r"\1"),
    (re.compile(r"(wsep\.token\.)[^\s,\"';]+"), r"\1"),
    (re.compile(r"\b(Bearer|Basic)(\s+)[^\s,\"';]+", re.IGNORECASE), r"\1\2"),
)


def scrub(text: str) -> str:
    """``text`` with every credential it could carry replaced by ``[redacted]``."""
    low = text.lower()
    if "token" not in low and "bearer" not in low and "basic" not in low:
        return text  # fast path: the common log line has nothing to scrub
    for pattern, keep in _PATTERNS:
        text = pattern.sub(keep + REDACTED, text)
    return text


def _scrub_value(value: Any) -> Any:
    return scrub(value) if isinstance(value, str) else value


class ScrubbingAccessLogger(AccessLogger):
    """aiohttp's access log format, with credentials scrubbed from every field."""

    def _format_line(
        self, request: BaseRequest, response: StreamResponse, time: float
    ) -> Iterable[tuple[str | tuple[str, str], str]]:
        return [
            (key, _scrub_value(value))
            for key, value in super()._format_line(request, response, time)
        ]


class ScrubFilter(logging.Filter):
    """Rewrites a record's message with credentials scrubbed (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def install_scrub_filter(*targets: logging.Handler | logging.Logger) -> ScrubFilter:
    """Attach one :class:`ScrubFilter` to handlers/loggers (default: the root's handlers)."""
    chosen: tuple[logging.Handler | logging.Logger, ...] = targets or tuple(
        logging.getLogger().handlers
    )
    flt = ScrubFilter()
    for target in chosen:
        target.addFilter(flt)
    return flt
