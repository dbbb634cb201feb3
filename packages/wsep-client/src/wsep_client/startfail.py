"""Turning "closed before the pid" into a :class:`StartFailed` a script can act on.

A v2 server sends an ``error`` message (``code``, ``message``) before the
close; a v1 server only closes, the Go original with 1011 ``failed to serve
execer`` and no detail, ours with the reason in the close frame.
"""

from __future__ import annotations

from wsep_protocol import Command, Error, StartErrorKind

from .errors import StartFailed

__all__ = ["start_failure"]

_KINDS = {kind.value: kind for kind in StartErrorKind}

# Words in a v1 close reason (or an unknown error code) and what they mean.
_HINTS = (
    ("not found", StartErrorKind.COMMAND_NOT_FOUND),
    ("no such file", StartErrorKind.COMMAND_NOT_FOUND),
    ("permission denied", StartErrorKind.PERMISSION_DENIED),
    ("no such directory", StartErrorKind.NO_SUCH_DIRECTORY),
    ("working directory", StartErrorKind.NO_SUCH_DIRECTORY),
)


def _guess(text: str) -> StartErrorKind:
    lowered = text.lower()
    for words, kind in _HINTS:
        if words in lowered:
            return kind
    return StartErrorKind.OTHER


def start_failure(
    command: Command, error: Error | None, close_code: int | None, reason: str
) -> StartFailed:
    """The exception for a connection that ended before the process started."""
    name = command.command
    if error is not None:
        kind = _KINDS.get(error.code) or _guess(error.message)
        detail = error.message or error.code
        code = error.code
    else:
        kind = _guess(reason)
        detail = reason or (f"connection closed (code {close_code})" if close_code else "")
        code = ""
        if not detail:
            detail = "connection closed"
    if kind is StartErrorKind.COMMAND_NOT_FOUND:
        text = f"{name}: command not found" if name not in detail else detail
    else:
        text = detail
    if name not in text:
        text = f"cannot start {name}: {text}"
    return StartFailed(text, kind=kind, code=code, close_code=close_code, close_reason=reason)
