"""The client's exceptions: one root, one class per thing a script can act on.

::

    WsepError (wsep_protocol)
     └── ClientError
          ├── ConnectError            no WebSocket: refused, DNS, TLS, bad handshake
          │    ├── AuthenticationError  HTTP 401/403, with the server's message
          │    ├── CertificateError   the server's TLS certificate was not trusted
          │    └── InvalidURL         not a ws:// or wss:// URL (also a ValueError)
          ├── StartFailed             the server could not start the command
          │    │                      (also a wsep_protocol.StartError, with ``kind``)
          │    └── StartRefused       ... because its policy refused it (v2)
          │                           (also a wsep_protocol.PolicyViolation)
          ├── ConnectionLost          the connection ended before the exit code
          │                           (also a ConnectionError)
          ├── NotSupported            the peer's protocol version lacks the feature
          ├── NoSuchSession           no session of that id for this identity
          │                           (also a wsep_protocol.sessions.NoSuchSession)
          ├── LocalProtocolError      this program asked for what the protocol forbids:
          │                           stdin after close, input on a read-only attachment
          │                           (also a wsep_protocol.LocalProtocolError)
          ├── OutputGap               a resumed job's bytes were evicted before delivery
          ├── TransferError           upload/download failed or the hashes differ
          ├── InventoryError          a fleet inventory is invalid (wsep_client.inventory)
          ├── Aborted                 a fleet run ended before this target's run did
          └── ProcessError            a command failed (``check=True``); carries the result
               └── ProcessTimeout     ... ran out of time (also a TimeoutError)

``TypeError``/``ValueError`` for wrong arguments are raised at once, as
Python's own APIs do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsep_protocol import (
    CloseCode,
    ErrorCode,
    PolicyViolation,
    StartError,
    StartErrorKind,
    WsepError,
)
from wsep_protocol import LocalProtocolError as ProtocolUsageError
from wsep_protocol.sessions import NoSuchSession as SessionNotFound

if TYPE_CHECKING:
    from .result import CompletedProcess

__all__ = [
    "Aborted",
    "AuthenticationError",
    "CertificateError",
    "ClientError",
    "ConnectError",
    "ConnectionLost",
    "InternalError",
    "InvalidURL",
    "LocalProtocolError",
    "NoSuchSession",
    "NotSupported",
    "OutputGap",
    "ProcessError",
    "ProcessTimeout",
    "StartFailed",
    "StartRefused",
    "TransferError",
]


class ClientError(WsepError):
    """Root of every error the wsep client raises."""


class ConnectError(ClientError):
    """The WebSocket could not be opened (refused, unresolvable, TLS, handshake)."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        #: The HTTP status of a failed handshake, None when there was no response.
        self.status = status


class AuthenticationError(ConnectError):
    """The server refused the credentials (HTTP 401 or 403)."""

    def __init__(self, message: str, *, url: str = "", status: int, detail: str = "") -> None:
        super().__init__(message, url=url, status=status)
        #: The server's own explanation, as it sent it ("" when it sent none).
        self.detail = detail


class CertificateError(ConnectError):
    """The server's TLS certificate was not trusted (self-signed, unknown CA, wrong name)."""


class InvalidURL(ConnectError, ValueError):
    """The URL is not a ``ws://`` or ``wss://`` URL (checked before any I/O)."""


class NoSuchSession(ClientError, SessionNotFound):
    """No session of that id that this identity may reach (v2)."""


class LocalProtocolError(ClientError, ProtocolUsageError):
    """This program asked for something the protocol forbids right now
    (stdin after ``close()``, input on a read-only attachment, a second start)."""


class StartFailed(ClientError, StartError):
    """The remote side could not start the command.

    ``kind`` says why (command not found, permission denied, ...); ``code`` is
    the server's error code as sent (v2), ``close_code``/``close_reason`` what
    the WebSocket close said (all a v1 server sends).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: StartErrorKind = StartErrorKind.OTHER,
        code: str = "",
        close_code: int | None = None,
        close_reason: str = "",
    ) -> None:
        StartError.__init__(self, message, kind=kind)
        self.code = code or kind.value
        # What a server serving this client's execer (chaining) passes on.
        self.error_code = ErrorCode.parse(self.code) or self.error_code
        self.remote_close_code = close_code
        self.close_reason = close_reason


class StartRefused(StartFailed, PolicyViolation):
    """The server's policy refused the command (v2 code ``policy_violation`` before the start)."""

    close_code = CloseCode.POLICY_VIOLATION


class ConnectionLost(ClientError, ConnectionError):
    """The connection ended while the process ran: its exit status is unknown."""

    def __init__(self, message: str, *, close_code: int | None = None, reason: str = "") -> None:
        ClientError.__init__(self, message)
        self.remote_close_code = close_code
        self.close_reason = reason


class InternalError(ClientError, RuntimeError):
    """A bug in the client (or in what it was given), not a lost connection.

    Nothing is resumed or retried; the original exception is the ``__cause__``.
    """


class NotSupported(ClientError):
    """The server's protocol version cannot do this (e.g. signals on a v1 server)."""


class OutputGap(ClientError):
    """A resumed job's output lost bytes: the server evicted them before this client got them.

    ``length`` bytes of ``stream`` from ``offset`` on are gone; output resumes after them.
    """

    def __init__(self, stream: str, offset: int, length: int) -> None:
        super().__init__(
            f"{stream}: {length} bytes from offset {offset} were evicted from the server's "
            "buffer before this client got them (attach with on_gap='mark' to continue)"
        )
        self.stream = stream
        self.offset = offset
        self.length = length


class TransferError(ClientError):
    """A file transfer failed, or the two sides' SHA-256 hashes differ."""


class Aborted(ClientError):
    """A fleet run ended (``fail_fast``) before this target's command ran or finished."""


class ProcessError(ClientError):
    """A command ended unsuccessfully; ``result`` holds what it produced.

    The attributes mirror ``subprocess.CalledProcessError`` and asyncssh.
    """

    def __init__(self, result: CompletedProcess, message: str | None = None) -> None:
        self.result = result
        super().__init__(message or _describe(result))

    @property
    def returncode(self) -> int | None:
        """The return code (None for a :class:`ProcessTimeout`: the status is unknown)."""
        return None if self.result.timed_out else self.result.returncode

    @property
    def stdout(self) -> Any:
        """``bytes``, or ``str`` in text mode."""
        return self.result.stdout

    @property
    def stderr(self) -> Any:
        return self.result.stderr

    @property
    def exit_signal(self) -> int | None:
        return self.result.exit_signal

    @property
    def termination_reason(self) -> str | None:
        """Why the server ended the command (a policy limit), or None."""
        return self.result.termination_reason

    @property
    def command(self) -> tuple[str, ...]:
        return self.result.args


class ProcessTimeout(ProcessError, TimeoutError):
    """The command ran past its timeout; the remote process has been ended."""

    def __init__(self, result: CompletedProcess, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(result, f"{_argv(result)} timed out after {timeout:g} s")


def _argv(result: CompletedProcess) -> str:
    return " ".join(result.args) if result.args else "command"


def _describe(result: CompletedProcess) -> str:
    if result.termination_reason:
        return f"{_argv(result)} was ended by the server: {result.termination_reason}"
    if result.exit_signal is not None:
        from wsep_protocol import signal_name

        return f"{_argv(result)} was killed by {signal_name(result.exit_signal)}"
    return f"{_argv(result)} exited with status {result.returncode}"
