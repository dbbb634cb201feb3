"""What a server can serve and a client can drive: ``Execer`` and ``Process``.

The server's local execer (pipes, PTY) and the client's remote execer (a
process on another wsep server) both satisfy these protocols, so one can
stand in for the other: a server can serve a remote execer (chaining), and
scripts can swap local for remote execution.

The protocols name coroutines but import nothing asynchronous themselves.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .command import Command
from .messages import Buffer
from .status import ExitStatus

__all__ = ["Execer", "Process", "ProcessReader", "ProcessWriter"]


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
