"""Immutable messages, one class per wire ``type``.

Client to server: :class:`Start`, :class:`Stdin`, :class:`CloseStdin`,
:class:`Resize`, and in v2 :class:`Signal`. Server to client: :class:`Pid`,
:class:`Stdout`, :class:`Stderr`, :class:`ExitCode`, and in v2 :class:`Error`.
:class:`UnknownMessage` stands for a type this implementation does not know;
both sides ignore it, which is what makes additive extensions safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol, TypeAlias

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
    "Pid",
    "Resize",
    "ServerMessage",
    "Signal",
    "Start",
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


class ExtensionMessage(Protocol):
    """A message class of an extension (:mod:`wsep_protocol.sessions`, ``flow``):
    any class with a wire ``TYPE``, registered in the lists below and the codec."""

    TYPE: ClassVar[str]


#: What the codec and :class:`~wsep_protocol.Connection` handle: the built-in
#: messages and extension ones (checked at run time against the registries).
AnyMessage: TypeAlias = Message | ExtensionMessage

#: Message classes each side may send. Extensions append to these lists (and
#: register a parser and encoder in :mod:`wsep_protocol.codec`).
CLIENT_MESSAGES: list[type] = [Start, Stdin, CloseStdin, Resize, Signal]
SERVER_MESSAGES: list[type] = [Pid, Stdout, Stderr, ExitCode, Error]

#: The message classes of version 1, which is frozen: every other class
#: (``signal``, ``error`` and every extension) needs a v2 connection. A v1
#: connection refuses to send them and ignores them when received, as a v1
#: peer ignores any type it does not know.
V1_MESSAGES: tuple[type, ...] = (Start, Stdin, CloseStdin, Resize, Pid, Stdout, Stderr, ExitCode)
