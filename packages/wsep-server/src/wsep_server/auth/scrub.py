"""Keep credentials and forged lines out of logs: one scrubber for every format and logger.

:func:`scrub` removes credentials (query tokens under any spelling of the
parameter name, percent-encoded ones included; subprotocol tokens;
``Authorization`` values). :func:`escape_controls` makes control characters
visible, so a newline in a request path or a working directory cannot start a
forged log line. :class:`ScrubFilter` applies both to a record's message and to
every extra field (what the JSON format prints), :class:`ScrubbingAccessLogger`
to aiohttp's access log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

__all__ = [
    "REDACTED",
    "ScrubFilter",
    "ScrubbingAccessLogger",
    "clean_log_value",
    "escape_controls",
    "install_scrub_filter",
    "scrub",
]

REDACTED = "[redacted]"

#: Query parameter names whose values are credentials (compared after percent-decoding).
_SECRET_PARAMETERS = frozenset({"token", "access_token"})

# A query parameter: a separator (literal or percent-encoded), a name, ``=``, a value.
_PARAMETER = re.compile(
    r"((?:[?&;]|%26|%3F|%3B)([^=&\s\"';?]{1,96}?)(?:=|%3D))([^&\s\"';]*)", re.IGNORECASE
)
# ``Authorization: <anything but a scheme the next pattern keeps>``
_SCHEMES = r"(?:Bearer|Basic|Digest|Negotiate)\b"
_AUTHORIZATION_VALUE = r"\b(Authorization[\"']?\s*[:=]\s*[\"']?)(?!" + _SCHEMES + r")[^\s,\"';]+"
_PATTERNS = (
    (re.compile(r"(wsep\.token\.)[^\s,\"';]+"), r"\1"),
    (re.compile(r"\b(Bearer|Basic|Digest|Negotiate)(\s+)[^\s,\"';]+", re.IGNORECASE), r"\1\2"),
    (re.compile(_AUTHORIZATION_VALUE, re.IGNORECASE), r"\1"),
    (re.compile(r"\b(Proxy-Secret[\"']?\s*[:=]\s*[\"']?)[^\s,\"';]+", re.IGNORECASE), r"\1"),
)
# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _parameter_name(name: str) -> str:
    for _ in range(3):  # doubly encoded names (%2565) too
        decoded = unquote(name)
        if decoded == name:
            break
        name = decoded
    return name.strip().lower()


def _redact_parameter(match: re.Match[str]) -> str:
    if _parameter_name(match.group(2)) in _SECRET_PARAMETERS:
        return match.group(1) + REDACTED
    return match.group(0)


def scrub(text: str) -> str:
    """``text`` with every credential it could carry replaced by ``[redacted]``."""
    low = text.lower()
    if not any(
        word in low for word in ("token", "bearer", "basic", "auth", "%", "digest", "neg", "secret")
    ):
        return text  # fast path: the common log line has nothing to scrub
    text = _PARAMETER.sub(_redact_parameter, text)
    for pattern, keep in _PATTERNS:
        text = pattern.sub(keep + REDACTED, text)
    return text


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` on one line: control characters as ``\\n``, ``\\x1b``, ``\\u2028``..."""
    return _CONTROLS.sub(_escape, text)


def clean_log_value(value: Any) -> Any:
    """A logged value scrubbed and escaped, containers included (other types unchanged)."""
    if isinstance(value, str):
        return escape_controls(scrub(value))
    if isinstance(value, dict):
        return {key: clean_log_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_log_value(item) for item in value]
    return value


class ScrubbingAccessLogger(AccessLogger):
    """aiohttp's access log format, every field scrubbed and on one line."""

    def _format_line(
        self, request: BaseRequest, response: StreamResponse, time: float
    ) -> Iterable[tuple[str | tuple[str, str], str]]:
        return [
            (key, clean_log_value(value))
            for key, value in super()._format_line(request, response, time)
        ]


# Attributes every LogRecord has; anything else was passed as ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


class ScrubFilter(logging.Filter):
    """Rewrites a record's message and extra fields scrubbed and escaped (never drops one).

    The exception text (a traceback) is left as it is: it is the server's own.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_wsep_clean", False):
            return True  # already done by another handler's filter
        message = record.getMessage()
        cleaned = clean_log_value(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and not key.startswith("_"):
                setattr(record, key, clean_log_value(value))
        record.__dict__["_wsep_clean"] = True
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
