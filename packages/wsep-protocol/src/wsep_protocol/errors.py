"""The exception tree and the WebSocket close codes each error maps to.

::

    WsepError
     ├── LocalProtocolError       you misused the API (sent something illegal now)
     ├── RemoteProtocolError      the peer misbehaved; carries the close code to use
     │    ├── MalformedMessage    not JSON, wrong field types, values out of range
     │    ├── MessageTooBig       over the negotiated message or header size
     │    └── ProtocolViolation   legal message, illegal at this point
     ├── PolicyViolation          refused by the server's configuration (1008)
     └── StartError               the command could not be started

Each error also names the :class:`ErrorCode` a v2 server reports it with
(``error_code``), so that neither side derives a code from an error's text.
"""

from __future__ import annotations

import enum

__all__ = [
    "MAX_REASON_BYTES",
    "CloseCode",
    "ErrorCode",
    "LocalProtocolError",
    "MalformedMessage",
    "MessageTooBig",
    "PolicyViolation",
    "ProtocolViolation",
    "RemoteProtocolError",
    "StartError",
    "StartErrorKind",
    "WsepError",
    "truncate_reason",
]

#: RFC 6455 allows at most 123 bytes of reason in a close frame.
MAX_REASON_BYTES = 123


class CloseCode(enum.IntEnum):
    """WebSocket close codes (RFC 6455 §7.4.1) as wsep uses them."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013


class ErrorCode(str, enum.Enum):
    """The ``code`` of a v2 ``error`` message; on the wire as its :attr:`value`.

    A ``str`` mix-in (Python 3.10 has no ``StrEnum``): compare and encode with
    ``.value``, since ``str()`` and ``format()`` of a member differ by version.
    A code this implementation does not know (a newer peer's) is no error:
    :meth:`parse` returns None and the receiver treats it as a generic failure.
    """

    # Start failures: the values of StartErrorKind.
    COMMAND_NOT_FOUND = "command_not_found"
    PERMISSION_DENIED = "permission_denied"
    NO_SUCH_DIRECTORY = "no_such_directory"
    USER_SWITCH_DENIED = "user_switch_denied"
    INVALID_COMMAND = "invalid_command"
    START_FAILED = "start_failed"
    # The connection.
    MALFORMED_MESSAGE = "malformed_message"
    MESSAGE_TOO_BIG = "message_too_big"
    PROTOCOL_VIOLATION = "protocol_violation"
    POLICY_VIOLATION = "policy_violation"
    LIMIT_EXCEEDED = "limit_exceeded"
    SERVER_SHUTDOWN = "server_shutdown"
    INTERNAL_ERROR = "internal_error"
    # The sessions extension.
    NO_SUCH_SESSION = "no_such_session"

    @classmethod
    def parse(cls, code: str) -> ErrorCode | None:
        """The member sent as ``code``; None for a code this side does not know."""
        return _CODES.get(code)

    @property
    def start_error_kind(self) -> StartErrorKind | None:
        """The start failure this code reports, None for any other code."""
        return _KINDS.get(self)


def truncate_reason(reason: str) -> str:
    """Cut a close reason to 123 UTF-8 bytes without splitting a character."""
    raw = reason.encode("utf-8")
    if len(raw) <= MAX_REASON_BYTES:
        return reason
    return raw[: MAX_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


class WsepError(Exception):
    """Root of every error wsep raises."""

    #: The close code a server should use when this error ends a connection.
    close_code: CloseCode = CloseCode.INTERNAL_ERROR
    #: The code a v2 server sends in the ``error`` message before that close.
    error_code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, *, close_code: CloseCode | None = None) -> None:
        super().__init__(message)
        if close_code is not None:
            self.close_code = close_code

    @property
    def reason(self) -> str:
        """The message, cut to fit a close frame."""
        return truncate_reason(str(self))


class LocalProtocolError(WsepError):
    """This side tried to send something the protocol forbids right now."""


class RemoteProtocolError(WsepError):
    """The peer sent something the protocol forbids."""

    close_code = CloseCode.PROTOCOL_ERROR
    error_code = ErrorCode.PROTOCOL_VIOLATION


class MalformedMessage(RemoteProtocolError):
    """A message that cannot be decoded: bad JSON, bad UTF-8, wrong types or ranges."""

    error_code = ErrorCode.MALFORMED_MESSAGE


class MessageTooBig(RemoteProtocolError):
    """A message or header larger than the connection allows."""

    close_code = CloseCode.MESSAGE_TOO_BIG
    error_code = ErrorCode.MESSAGE_TOO_BIG


class ProtocolViolation(RemoteProtocolError):
    """A well-formed message that is not allowed in the connection's state."""


class PolicyViolation(WsepError):
    """The server's configuration refuses the request."""

    close_code = CloseCode.POLICY_VIOLATION
    error_code = ErrorCode.POLICY_VIOLATION


class StartErrorKind(str, enum.Enum):
    """Why a command could not start; sent as ``code`` in a v2 ``error`` message."""

    COMMAND_NOT_FOUND = "command_not_found"
    PERMISSION_DENIED = "permission_denied"
    NO_SUCH_DIRECTORY = "no_such_directory"
    USER_SWITCH_DENIED = "user_switch_denied"
    INVALID_COMMAND = "invalid_command"
    OTHER = "start_failed"


class StartError(WsepError):
    """The execer could not start the command."""

    close_code = CloseCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        kind: StartErrorKind = StartErrorKind.OTHER,
        close_code: CloseCode | None = None,
    ) -> None:
        super().__init__(message, close_code=close_code)
        self.kind = kind
        self.error_code = ErrorCode(kind.value)


_CODES = {code.value: code for code in ErrorCode}
_KINDS = {ErrorCode(kind.value): kind for kind in StartErrorKind}
