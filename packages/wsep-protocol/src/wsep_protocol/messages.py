"""Immutable messages, one class per wire ``type``.

Client to server: :class:`Start`, :class:`Stdin`, :class:`CloseStdin`,
:class:`Resize`, and in v2 :class:`Signal`. Server to client: :class:`Pid`,
:class:`Stdout`, :class:`Stderr`, :class:`ExitCode`, and in v2 :class:`Error`.
:class:`UnknownMessage` stands for a type this implementation does not know;
both sides ignore it, which is what makes additive extensions safe.
"""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

from .command import Command
from .errors import ErrorCode
from .status import ExitStatus, signal_from_description, signal_name, signal_number

__all__ = [
    "CLIENT_MESSAGES",
    "SERVER_MESSAGES",
    "V1_MESSAGES",
    "AnyMessage",
    "Buffer",
    "ClientMessage",
    "CloseStdin",
    "Error",
    "ExitCode",
    "ExtensionMessage",
    "Message",
    "Phase",
    "Pid",
    "Resize",
    "ServerMessage",
    "Signal",
    "Start",
    "StartingMessage",
    "Stderr",
    "Stdin",
    "Stdout",
    "UnknownMessage",
]

Buffer: TypeAlias = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class Start:
    """Start ``command``. ``id`` names a reattachable TTY session ("" for none)."""

    TYPE: ClassVar[str] = "start"
    command: Command
    id: str = ""


@dataclass(frozen=True, slots=True)
class Stdin:
    TYPE: ClassVar[str] = "stdin"
    data: Buffer = b""


@dataclass(frozen=True, slots=True)
class CloseStdin:
    TYPE: ClassVar[str] = "close_stdin"


@dataclass(frozen=True, slots=True)
class Resize:
    TYPE: ClassVar[str] = "resize"
    rows: int
    cols: int


@dataclass(frozen=True, slots=True)
class Signal:
    """v2: deliver a signal to the process group. ``signal`` is a name (``SIGTERM``)."""

    TYPE: ClassVar[str] = "signal"
    signal: str

    @classmethod
    def from_number(cls, signum: int) -> Signal:
        return cls(signal_name(signum))

    @property
    def number(self) -> int:
        return signal_number(self.signal)


@dataclass(frozen=True, slots=True)
class Pid:
    TYPE: ClassVar[str] = "pid"
    pid: int


@dataclass(frozen=True, slots=True)
class Stdout:
    TYPE: ClassVar[str] = "stdout"
    data: Buffer = b""


@dataclass(frozen=True, slots=True)
class Stderr:
    TYPE: ClassVar[str] = "stderr"
    data: Buffer = b""


@dataclass(frozen=True, slots=True)
class ExitCode:
    """The last message. ``signal`` and ``core_dumped`` are v2 fields (None in v1)."""

    TYPE: ClassVar[str] = "exit_code"
    exit_code: int
    error: str = ""
    signal: str | None = None
    core_dumped: bool | None = None

    @classmethod
    def from_status(cls, status: ExitStatus, *, extended: bool = False) -> ExitCode:
        """The message for ``status``; ``extended`` adds the v2 fields."""
        if not extended:
            return cls(status.code, status.error)
        sig = None if status.signal is None else signal_name(status.signal)
        return cls(status.code, status.error, sig, status.core_dumped)

    @property
    def status(self) -> ExitStatus:
        """The exit status, from the v2 fields or else from v1's ``error`` wording.

        A signal that cannot be recognised is dropped rather than guessed.
        """
        if self.signal is not None:
            try:
                number = signal_number(self.signal)
            except ValueError:
                pass
            else:
                return ExitStatus(self.exit_code, number, bool(self.core_dumped))
        if self.exit_code == -1 and self.error.startswith("signal: "):
            number = signal_from_description(self.error)
            if number:
                return ExitStatus(-1, number, self.error.endswith(" (core dumped)"))
        return ExitStatus(self.exit_code)


@dataclass(frozen=True, slots=True)
class Error:
    """v2: why the server is about to close (start failure, protocol violation, policy)."""

    TYPE: ClassVar[str] = "error"
    #: The wire string: an :class:`ErrorCode` value, or a newer peer's code.
    code: str
    message: str
    close_code: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.code, ErrorCode):  # a member is sent as its value, on every Python
            object.__setattr__(self, "code", self.code.value)

    @property
    def error_code(self) -> ErrorCode | None:
        """The code as a member; None for a code this side does not know."""
        return ErrorCode.parse(self.code)


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A type this implementation does not know; to be ignored."""

    type: str
    header: dict[str, object] = field(default_factory=dict, compare=False)


ClientMessage: TypeAlias = Start | Stdin | CloseStdin | Resize | Signal
ServerMessage: TypeAlias = Pid | Stdout | Stderr | ExitCode | Error
Message: TypeAlias = ClientMessage | ServerMessage | UnknownMessage


class Phase(enum.Enum):
    """Where an extension message sits in a connection's states."""

    #: About the running process: a client's after its start (like ``stdin``),
    #: a server's after the ``pid`` (like ``stdout``).
    PROCESS = "process"
    #: In place of ``start``: first and once (v2 ``attach``); see :class:`StartingMessage`.
    START = "start"
    #: Only before a start, any number, no state change: requests and their
    #: replies (``list_sessions`` / ``sessions``).
    IDLE = "idle"


class ExtensionMessage:
    """The base of every extension message class (:mod:`wsep_protocol.sessions`, ``flow``).

    A subclass names its wire ``TYPE`` and its :class:`Phase`, and brings its
    own wire form: :meth:`encode` and :meth:`parse`. It is known to a
    :class:`~wsep_protocol.Connection` once an
    :class:`~wsep_protocol.Extension` listing it is in the connection's
    :class:`~wsep_protocol.Registry`.
    """

    __slots__ = ()

    TYPE: ClassVar[str]
    PHASE: ClassVar[Phase] = Phase.PROCESS

    @abstractmethod
    def encode(self) -> bytes:
        """The wire bytes: a compact JSON header (``"type"`` first) and ``\\n``."""

    @classmethod
    @abstractmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> ExtensionMessage:
        """The message from its decoded JSON ``header`` and ``body``.

        Raises :class:`~wsep_protocol.MalformedMessage` for invalid fields.
        """


class StartingMessage(ExtensionMessage):
    """An extension message sent in place of ``start`` (v2 ``attach``).

    It names the session it is about and, when it starts a process, the
    command; ``read_only`` refuses every input on the connection.
    """

    __slots__ = ()

    PHASE: ClassVar[Phase] = Phase.START
    id: str
    command: Command | None
    read_only: bool


#: What the codec and :class:`~wsep_protocol.Connection` handle: the built-in
#: messages and extension ones (those of the connection's registry, checked at run time).
AnyMessage: TypeAlias = Message | ExtensionMessage

#: The built-in message classes each side may send; a
#: :class:`~wsep_protocol.Registry` adds its extensions' classes.
CLIENT_MESSAGES: tuple[type, ...] = (Start, Stdin, CloseStdin, Resize, Signal)
SERVER_MESSAGES: tuple[type, ...] = (Pid, Stdout, Stderr, ExitCode, Error)

#: The message classes of version 1, which is frozen: every other class
#: (``signal``, ``error`` and every extension) needs a v2 connection. A v1
#: connection refuses to send them and ignores them when received, as a v1
#: peer ignores any type it does not know.
V1_MESSAGES: tuple[type, ...] = (Start, Stdin, CloseStdin, Resize, Pid, Stdout, Stderr, ExitCode)
