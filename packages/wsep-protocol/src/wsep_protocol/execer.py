"""What a server can serve and a client can drive: ``Execer`` and ``Process``.

The server's local execer (pipes, PTY) and the client's remote execer (a
process on another wsep server) both satisfy these protocols, so one can
stand in for the other: a server can serve a remote execer (chaining), and
scripts can swap local for remote execution.

Beyond the required members, an execer or process may offer *capabilities*:
optional members the server uses when they are there. Each is a typed,
runtime-checkable protocol below (:class:`FramedReader`,
:class:`DrainAwareWriter`, :class:`ResolvingExecer`, :class:`ClosableExecer`);
the server asks ``isinstance`` once, when it sets a process or reader up,
never per message.

The protocols name coroutines but import nothing asynchronous themselves.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .command import Command
from .messages import Buffer
from .status import ExitStatus

__all__ = [
    "ClosableExecer",
    "DrainAwareWriter",
    "Execer",
    "FramedReader",
    "Process",
    "ProcessReader",
    "ProcessWriter",
    "ResolvingExecer",
]


@runtime_checkable
class ProcessReader(Protocol):
    """A byte stream from the process, read like ``asyncio.StreamReader``."""

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes; ``b""`` only at end of stream."""
        ...


@runtime_checkable
class ProcessWriter(Protocol):
    """The process's stdin, written like ``asyncio.StreamWriter``."""

    def write(self, data: Buffer) -> None: ...

    async def drain(self) -> None:
        """Wait until the buffer is below its high-water mark (backpressure)."""
        ...

    def close(self) -> None:
        """End of input: the process reads EOF."""
        ...


@runtime_checkable
class Process(Protocol):
    """A started process. ``stderr`` of a TTY process is empty (merged into stdout)."""

    @property
    def pid(self) -> int: ...

    @property
    def stdin(self) -> ProcessWriter: ...

    @property
    def stdout(self) -> ProcessReader: ...

    @property
    def stderr(self) -> ProcessReader: ...

    async def wait(self) -> ExitStatus:
        """Wait for the exit. Output may still be buffered: read it to EOF too."""
        ...

    async def resize(self, rows: int, cols: int) -> None:
        """Set the TTY size; a no-op for processes without a TTY."""
        ...

    async def send_signal(self, signum: int) -> None:
        """Deliver ``signum`` to the process (its process group where there is one)."""
        ...

    async def close(self) -> None:
        """End the process if it still runs (terminate, grace period, kill) and reap it."""
        ...


@runtime_checkable
class Execer(Protocol):
    """Starts processes. Raises :class:`~wsep_protocol.StartError` when it cannot."""

    async def start(self, command: Command) -> Process: ...


# --- capabilities: optional members, each a protocol of its own -----------------------


@runtime_checkable
class FramedReader(ProcessReader, Protocol):
    """A reader that builds ``header + data`` in one buffer: the output fast path.

    The server then sends what it returns as is, without prepending the
    header itself (one allocation and no copy per message).
    """

    async def read_message(self, header: bytes, max_size: int) -> Buffer:
        """``header`` followed by 1..``max_size - len(header)`` bytes, or ``b""`` at EOF."""
        ...


@runtime_checkable
class DrainAwareWriter(ProcessWriter, Protocol):
    """A stdin writer that says whether :meth:`drain` would wait.

    The server then skips ``drain`` (and the task it needs) while the buffer
    is below its high-water mark; without it every write is followed by one.
    """

    @property
    def needs_drain(self) -> bool: ...


@runtime_checkable
class ResolvingExecer(Execer, Protocol):
    """An execer that says which program a command runs (the policy checks that path)."""

    def resolve(self, command: Command) -> str:
        """The absolute path ``command`` would execute; raises ``StartError`` if none."""
        ...


@runtime_checkable
class ClosableExecer(Execer, Protocol):
    """An execer holding resources (a chained server's connection) to release at shutdown."""

    async def close(self) -> None: ...
