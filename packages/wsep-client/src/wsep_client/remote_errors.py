"""The exception a script gets for a connection that ended early, chosen by the error code.

A v2 server sends an ``error`` message (``code``, ``message``) before it
closes; its code (:class:`~wsep_protocol.ErrorCode`) picks the exception,
never its text. Before the pid every code is a start failure
(:class:`StartFailed`, with the ``kind`` a start code names, or
:class:`StartRefused` for the policy); after it, and for a session request,
``no_such_session`` is :class:`NoSuchSession` and the rest
:class:`ConnectionLost`. A code this client does not know (a newer server's)
gets the generic exception of the phase.

A v1 server only closes, the Go original with 1011 ``failed to serve
execer`` and no detail, ours with the reason in the close frame: only then is
the reason read for a hint of the kind.
"""

from __future__ import annotations

from wsep_protocol import Command, Error, ErrorCode, StartErrorKind

from .errors import ClientError, ConnectionLost, NoSuchSession, StartFailed, StartRefused

__all__ = ["START_FAILURES", "connection_failure", "start_failure"]

#: The start failures that are not :class:`StartFailed` itself, by code.
START_FAILURES: dict[ErrorCode, type[StartFailed]] = {ErrorCode.POLICY_VIOLATION: StartRefused}

# Words in a v1 close reason and what they mean.
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
    cls = StartFailed
    if error is not None:
        code = error.error_code
        kind = (code.start_error_kind if code is not None else None) or StartErrorKind.OTHER
        if code is not None:
            cls = START_FAILURES.get(code, StartFailed)
        detail = error.message or error.code
        wire_code = error.code
    else:
        kind = _guess(reason)
        detail = reason or (f"connection closed (code {close_code})" if close_code else "")
        wire_code = ""
        if not detail:
            detail = "connection closed"
    if kind is StartErrorKind.COMMAND_NOT_FOUND:
        text = f"{name}: command not found" if name not in detail else detail
    else:
        text = detail
    if name not in text:
        text = f"cannot start {name}: {text}"
    return cls(text, kind=kind, code=wire_code, close_code=close_code, close_reason=reason)


def connection_failure(
    error: Error | None, close_code: int | None, reason: str, *, what: str
) -> ClientError:
    """The exception for a connection that ended after the start, or before a request's answer.

    ``what`` says what was cut short ("connection lost before the exit code").
    """
    if error is not None and error.error_code is ErrorCode.NO_SUCH_SESSION:
        return NoSuchSession(error.message)
    detail = f"{error.code}: {error.message}" if error is not None else ""
    if not detail:
        detail = f"close code {close_code}" + (f" ({reason})" if reason else "")
    return ConnectionLost(f"{what}: {detail}", close_code=close_code, reason=reason)
