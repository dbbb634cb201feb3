"""Logging: text or JSON lines, and the one structured record per connection."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from .hooks import ConnectionRecord

__all__ = ["ConnectionLogObserver", "JsonFormatter", "configure_logging", "session_fields"]

#: The logger of the one record per connection (``wsep_server.sessions`` is the
#: reattachable sessions' own).
RECORD_LOGGER = "wsep_server.records"

# Attributes every LogRecord has; anything else was passed as ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def session_fields(record: ConnectionRecord) -> dict[str, Any]:
    """The fields of the per-connection log line, JSON-ready."""
    status = record.exit_status
    duration = record.duration
    return {
        "session": record.id,
        "peer": record.peer,
        "user": record.identity.name if record.identity is not None else None,
        "argv": list(record.argv),
        "cwd": record.cwd,
        "tty": record.tty,
        "pid": record.pid,
        "protocol": record.protocol_version,
        "duration": None if duration is None else round(duration, 6),
        "exit_code": None if status is None else status.code,
        "signal": None if status is None else status.signal,
        "exit": None if status is None else (status.error or "exit status 0"),
        "bytes_in": record.bytes_in,
        "bytes_out": record.bytes_out,
        "end_reason": record.end_reason,
        "close_code": record.close_code,
    }


class ConnectionLogObserver:
    """Writes one log record per connection when it ends (logger ``wsep_server.records``)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(RECORD_LOGGER)

    def on_start(self, record: ConnectionRecord) -> None:
        return None

    def on_end(self, record: ConnectionRecord) -> None:
        fields = session_fields(record)
        text = " ".join(f"{k}={_text(v)}" for k, v in fields.items() if v is not None)
        self.logger.info("session %s", text, extra={"wsep": fields})


def _text(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value) if (not value or any(c in value for c in ' ="\\')) else value
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a connection record's fields are top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "wsep", None)
        if isinstance(fields, dict):
            out["msg"] = "session"
            out.update(fields)
        else:
            out["msg"] = record.getMessage()
            for key, value in vars(record).items():
                if key not in _STANDARD and key != "wsep" and not key.startswith("_"):
                    out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Root logging to stderr (``text`` or ``json``), scrubbed; the access log stays quiet."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    elif fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        raise ValueError(f"unknown log format {fmt!r} (text or json)")
    from .auth.scrub import install_scrub_filter

    install_scrub_filter(handler)  # every format: no credential, no forged line
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def __getattr__(name: str) -> Any:
    from .hooks import _renamed

    return _renamed(__name__, name, globals())
