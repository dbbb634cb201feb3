"""The connection state machine both sides use to decide what is legal next.

In the spirit of h11 and wsproto: the I/O layers move bytes; this decides.
``send`` raises :class:`LocalProtocolError` when this side would break the
protocol, ``receive`` raises a :class:`RemoteProtocolError` (carrying the
close code to answer with) when the peer did, and returns ``None`` for a
message that is to be ignored (unknown types, input racing the exit).

States, the same on both sides::

    AWAITING_START --start--> STARTING --pid--> RUNNING --exit_code--> EXITED
"""

from __future__ import annotations

import enum

from .codec import DATA_HEADERS, FrameBuffer, frame_data
from .command import Command
from .errors import CloseCode, LocalProtocolError, ProtocolViolation
from .extensions import DEFAULT_REGISTRY
from .messages import (
    V1_MESSAGES,
    AnyMessage,
    Buffer,
    CloseStdin,
    Error,
    ExitCode,
    ExtensionMessage,
    Phase,
    Pid,
    Resize,
    Signal,
    Start,
    StartingMessage,
    Stderr,
    Stdin,
    Stdout,
    UnknownMessage,
)
from .registry import Registry
from .status import signal_number
from .versions import Limits, ProtocolVersion, limits_for

__all__ = ["Connection", "ConnectionState", "Role"]


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class ConnectionState(enum.Enum):
    AWAITING_START = "awaiting_start"
    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"


class Connection:
    """One wsep connection (one process) seen from ``role``.

    ``max_receive_size`` bounds incoming messages (a server may accept stdin
    messages larger than it sends); by default it is the version's limit.
    ``registry`` says which extension messages exist (by default
    :data:`~wsep_protocol.DEFAULT_REGISTRY`); others are unknown types.
    """

    def __init__(
        self,
        role: Role,
        version: ProtocolVersion = ProtocolVersion.V1,
        *,
        max_receive_size: int | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.role = role
        self.registry = DEFAULT_REGISTRY if registry is None else registry
        self._client_messages = self.registry.client_messages
        self._server_messages = self.registry.server_messages
        self.version = version
        self.limits: Limits = limits_for(version)
        self.max_receive_size = (
            self.limits.max_message_size if max_receive_size is None else max_receive_size
        )
        self.state = ConnectionState.AWAITING_START
        self.command: Command | None = None
        self.session_id = ""
        self.stdin_closed = False
        #: Attached read-only to a session (v2 ``attach``): no input of any kind.
        self.read_only = False

    def __repr__(self) -> str:
        return f"<Connection {self.role.value} v{int(self.version)} {self.state.value}>"

    # --- limits ------------------------------------------------------------

    @property
    def max_message_size(self) -> int:
        """The largest message this side may send."""
        return self.limits.max_message_size

    def max_data_size(self, header: bytes) -> int:
        """The largest body that fits one message behind ``header``."""
        return self.limits.max_message_size - len(header)

    @property
    def extended(self) -> bool:
        """Whether v2 messages and fields may be used."""
        return self.version >= ProtocolVersion.V2

    # --- sending -----------------------------------------------------------

    def send(self, message: AnyMessage) -> bytes:
        """Check that ``message`` may be sent now, advance, and encode it.

        A message over the size limit raises :class:`LocalProtocolError` and
        leaves the state as it was.
        """
        saved = (self.state, self.command, self.session_id, self.stdin_closed)
        self.check_send(message)
        data = self.registry.encode(message)
        if len(data) > self.limits.max_message_size:
            self.state, self.command, self.session_id, self.stdin_closed = saved
            raise LocalProtocolError(
                f"{type(message).__name__} of {len(data)} bytes exceeds the "
                f"v{int(self.version)} limit of {self.limits.max_message_size}"
            )
        return data

    def check_send(self, message: AnyMessage) -> None:
        """Like :meth:`send` without encoding, for data paths that frame themselves."""
        if self.role is Role.SERVER:
            self._server_send(message)
        else:
            self._client_send(message)

    def _need_v2(self, message: AnyMessage) -> None:
        if not self.extended and not isinstance(message, V1_MESSAGES):
            raise LocalProtocolError(f"{_type_of(message)} needs protocol v2")

    def _server_send(self, message: AnyMessage) -> None:
        state = self.state
        if not isinstance(message, self._server_messages):
            raise LocalProtocolError(f"a server cannot send {_type_of(message)}")
        self._need_v2(message)
        if state is ConnectionState.EXITED:
            raise LocalProtocolError(f"{_type_of(message)} after exit_code")
        if isinstance(message, Error):
            pass  # allowed in any state before the exit: the server closes next
        elif _phase(message) is Phase.IDLE:
            if state is not ConnectionState.AWAITING_START:
                raise LocalProtocolError(f"{_type_of(message)} only before start")
        elif isinstance(message, Pid):
            if state is not ConnectionState.STARTING:
                raise LocalProtocolError(f"pid in state {state.value}")
            self.state = ConnectionState.RUNNING
        elif state is not ConnectionState.RUNNING:
            raise LocalProtocolError(f"{_type_of(message)} before pid")
        elif isinstance(message, ExitCode):
            if not self.extended and (
                message.signal is not None or message.core_dumped is not None
            ):
                raise LocalProtocolError("exit_code signal/core_dumped need protocol v2")
            self.state = ConnectionState.EXITED

    def _client_send(self, message: AnyMessage) -> None:
        state = self.state
        if not isinstance(message, self._client_messages):
            raise LocalProtocolError(f"a client cannot send {_type_of(message)}")
        self._need_v2(message)
        if isinstance(message, (Start, StartingMessage)):
            if state is not ConnectionState.AWAITING_START:
                raise LocalProtocolError("start may be sent only once")
            self._started(message)
            return
        if _phase(message) is Phase.IDLE:
            if state is not ConnectionState.AWAITING_START:
                raise LocalProtocolError(f"{_type_of(message)} only before start")
            return
        if state is ConnectionState.AWAITING_START:
            raise LocalProtocolError(f"{_type_of(message)} before start")
        if state is ConnectionState.EXITED:
            raise LocalProtocolError(f"{_type_of(message)} after the process exited")
        if self.read_only and isinstance(message, _INPUT):
            raise LocalProtocolError(f"{_type_of(message)} on a read-only attachment")
        if isinstance(message, Signal):
            try:
                signal_number(message.signal)
            except ValueError as exc:
                raise LocalProtocolError(str(exc)) from None
        elif isinstance(message, (Stdin, CloseStdin)):
            if self.stdin_closed:
                raise LocalProtocolError(f"{_type_of(message)} after close_stdin")
            if isinstance(message, CloseStdin):
                self.stdin_closed = True
            elif self.command is not None and not self.command.stdin_enabled:
                raise LocalProtocolError("stdin was not enabled at start")

    def _started(self, message: Start | StartingMessage) -> None:
        # A start, or an extension message in its place (v2 ``attach``).
        self.command = message.command
        self.session_id = message.id
        self.read_only = isinstance(message, StartingMessage) and message.read_only
        self.state = ConnectionState.STARTING

    # --- data messages on the hot path --------------------------------------

    def data_header(self, kind: type[Stdout] | type[Stderr] | type[Stdin]) -> bytes:
        """The bytes before the body of every ``kind`` message this side sends.

        Asked once per stream, not per message: a server frames output, a
        client input. The state checks stay with the caller, which sends data
        only while the process runs.
        """
        if kind not in (_SERVER_DATA if self.role is Role.SERVER else _CLIENT_DATA):
            raise LocalProtocolError(f"a {self.role.value} cannot send {kind.TYPE}")
        return DATA_HEADERS[kind]

    def frame_data(self, header: bytes, data: Buffer) -> bytes:
        """``header + data`` as one message (see :func:`wsep_protocol.codec.frame_data`)."""
        return frame_data(header, data)

    def frame_buffer(self, kind: type[Stdout] | type[Stderr] | type[Stdin]) -> FrameBuffer:
        """A reused buffer that frames this side's ``kind`` messages with one copy each."""
        return FrameBuffer(self.data_header(kind))

    # --- receiving ---------------------------------------------------------

    def receive(self, data: Buffer | str) -> AnyMessage | None:
        """Decode and check one incoming message; ``None`` means ignore it."""
        return self.receive_message(
            self.registry.decode(
                data,
                max_size=self.max_receive_size,
                max_header_size=self.limits.max_header_size,
            )
        )

    def receive_message(self, message: AnyMessage) -> AnyMessage | None:
        """Check an already decoded message; ``None`` means ignore it."""
        if isinstance(message, UnknownMessage):
            return None
        if not self.extended and not isinstance(message, V1_MESSAGES):
            return None  # v2-only types are unknown to v1, and v1 ignores unknown types
        if self.role is Role.SERVER:
            return self._server_receive(message)
        return self._client_receive(message)

    def _server_receive(self, message: AnyMessage) -> AnyMessage | None:
        state = self.state
        if not isinstance(message, self._client_messages):
            raise ProtocolViolation(f"{_type_of(message)} is a server message")
        if isinstance(message, (Start, StartingMessage)):
            if state is not ConnectionState.AWAITING_START:
                raise ProtocolViolation("second start on one connection")
            self._started(message)
            return message
        if _phase(message) is Phase.IDLE:
            if state is not ConnectionState.AWAITING_START:
                raise ProtocolViolation(f"{_type_of(message)} after start")
            return message
        if state is ConnectionState.AWAITING_START:
            raise ProtocolViolation(f"{_type_of(message)} before start")
        if state is ConnectionState.EXITED:
            return None  # input racing the exit is harmless
        if self.read_only and isinstance(message, _INPUT):
            raise ProtocolViolation(
                f"read-only attachment: {_type_of(message)} refused",
                close_code=CloseCode.POLICY_VIOLATION,
            )
        command = self.command
        if command is None:
            return message  # attached to a session: the server checks its command
        if isinstance(message, Stdin):
            if not command.stdin_enabled:
                raise ProtocolViolation("stdin was not enabled at start")
            if self.stdin_closed:
                raise ProtocolViolation("stdin after close_stdin")
            return message
        if isinstance(message, CloseStdin):
            if self.stdin_closed or not command.stdin_enabled:
                return None
            self.stdin_closed = True
            return message
        if isinstance(message, Resize) and not command.tty:
            return None
        return message

    def _client_receive(self, message: AnyMessage) -> AnyMessage | None:
        state = self.state
        if not isinstance(message, self._server_messages):
            raise ProtocolViolation(f"{_type_of(message)} is a client message")
        if isinstance(message, Error):
            return message
        if _phase(message) is Phase.IDLE:
            if state is not ConnectionState.AWAITING_START:
                raise ProtocolViolation(f"{_type_of(message)} after start")
            return message
        if state is ConnectionState.EXITED:
            raise ProtocolViolation(f"{_type_of(message)} after exit_code")
        if isinstance(message, Pid):
            if state is not ConnectionState.STARTING:
                raise ProtocolViolation(f"pid in state {state.value}")
            self.state = ConnectionState.RUNNING
            return message
        if state is not ConnectionState.RUNNING:
            raise ProtocolViolation(f"{_type_of(message)} before pid")
        if isinstance(message, ExitCode):
            self.state = ConnectionState.EXITED
        return message


_INPUT = (Stdin, CloseStdin, Resize, Signal)
_SERVER_DATA = (Stdout, Stderr)
_CLIENT_DATA = (Stdin,)


def _phase(message: AnyMessage) -> Phase | None:
    """Where an extension message sits in the states (see :class:`Phase`); None if built in."""
    return message.PHASE if isinstance(message, ExtensionMessage) else None


def _type_of(message: object) -> str:
    """The wire type, for error messages (the class name of what is not a message)."""
    if isinstance(message, UnknownMessage):
        return message.type
    if isinstance(message, _TYPED):
        return message.TYPE
    return type(message).__name__


_TYPED = (
    Start,
    Stdin,
    CloseStdin,
    Resize,
    Signal,
    Pid,
    Stdout,
    Stderr,
    ExitCode,
    Error,
    ExtensionMessage,
)
