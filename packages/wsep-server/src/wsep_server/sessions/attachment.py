"""One client's view of a session, shaped like a ``wsep_protocol.Process``.

The connection handler serves a :class:`SessionProcess` exactly as it serves a
freshly started process: it reads ``stdout``/``stderr`` to EOF, writes
``stdin``, resizes, signals, waits for the exit and finally calls ``close``.
Here ``close`` only detaches: the session and its process live on.

TTY: the client's ``stdout`` starts with a redraw of the current screen and
continues with the live output. A client whose redraw showed the alternate
screen alone gets the main screen repainted right after the program leaves
the alternate screen (its terminal never saw the main screen). A client
that falls ``client_buffer`` bytes behind loses its queue and gets a fresh
redraw instead, so one slow client never holds the others back nor grows the server's memory.

Resumable job: ``stdout``/``stderr`` read the session's rings from the
client's offsets; an attached client holds the job back rather than miss a
byte.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from typing import TYPE_CHECKING

from wsep_protocol import Buffer, ExitStatus
from wsep_protocol.sessions import STREAMS, Attached, Gap

from ..tasks import OwnedTasks
from .ring import OutputRing
from .stats import STATS

if TYPE_CHECKING:
    from .session import Session

__all__ = ["SessionProcess"]

_log = logging.getLogger("wsep_server.sessions.attachment")

#: Resetting DEC private modes; leaving the alternate screen is one of them (below).
_RESET_PRIVATE = re.compile(rb"\x1b\[\?([0-9;]*)l")
_ALT_MODES = frozenset({b"1049", b"1047", b"47"})
#: Bytes of one chunk kept to find a sequence split across two.
_TAIL = 32


class _Input:
    """The session's stdin as this client may use it (a read-only client's input is dropped)."""

    def __init__(self, attachment: SessionProcess) -> None:
        self._attachment = attachment

    def write(self, data: Buffer) -> None:
        attachment = self._attachment
        if attachment.read_only or attachment.detached:
            return
        attachment.session.process.stdin.write(data)

    async def drain(self) -> None:
        attachment = self._attachment
        if attachment.read_only or attachment.detached:
            return
        await attachment.session.process.stdin.drain()

    def close(self) -> None:
        """End of input: a job's stdin is closed; a terminal's stays open for the others."""
        attachment = self._attachment
        if attachment.read_only or attachment.detached or attachment.session.tty:
            return
        attachment.session.process.stdin.close()


class _QueueReader:
    """The TTY output for one client: its redraw, then the live output."""

    def __init__(self, attachment: SessionProcess) -> None:
        self._attachment = attachment

    async def read(self, n: int = -1) -> bytes:
        attachment = self._attachment
        while True:
            if attachment.detached:
                return b""
            queue = attachment._queue
            if queue and not attachment._redrawing:
                data = queue.popleft()
                if 0 < n < len(data):
                    queue.appendleft(data[n:])
                    data = data[:n]
                attachment._queued -= len(data)
                attachment._drained.set()
                return data
            if not queue and attachment.session.exited.is_set():
                return b""
            await attachment._wait()


class _RingReader:
    """One stream of a resumable job, from this client's offset on."""

    def __init__(self, attachment: SessionProcess, ring: OutputRing, offset: int) -> None:
        self._attachment = attachment
        self._ring = ring
        self.offset = offset

    async def read(self, n: int = -1) -> bytes:
        ring = self._ring
        n = n if n > 0 else 1 << 16
        while True:
            if self._attachment.detached:
                return b""
            if self.offset < ring.end:
                first, data = ring.read(self.offset, n)
                # Attached readers hold the writer back, so nothing of theirs is evicted.
                assert first == self.offset, "attached reader lost bytes"
                self.offset += len(data)
                ring.advance(self._attachment, self.offset)
                return data
            if ring.eof:
                return b""
            await ring.changed()


class _Empty:
    async def read(self, n: int = -1) -> bytes:
        return b""


class SessionProcess:
    """A client attached to a :class:`Session`; satisfies ``wsep_protocol.Process``."""

    def __init__(
        self,
        session: Session,
        *,
        created: bool,
        read_only: bool = False,
        peer: str = "",
        size: tuple[int, int] | None = None,
    ) -> None:
        self.session = session
        self.created = created
        self.read_only = read_only
        self.peer = peer
        self.size = size
        self.since = time.time()
        self.detached = False
        self.gaps: list[Gap] = []
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._resync = False
        self._redrawing = False
        #: The main screen (rows, cursor) to repaint when the program leaves the
        #: alternate screen this client's redraw showed; None otherwise.
        self._main_repaint: tuple[bytes, bytes] | None = None
        self._tail = b""
        self._event = asyncio.Event()
        self._drained = asyncio.Event()
        self._stdin = _Input(self)
        #: Redraws after falling behind run in the background; cancelled on detach.
        self._tasks = OwnedTasks(_log, f"session {session.id!r} client {peer!r}")
        self._stdout: _QueueReader | _RingReader | _Empty
        self._stderr: _RingReader | _Empty = _Empty()
        if session.tty:
            self._stdout = _QueueReader(self)
        else:
            self._stdout = _Empty()

    def __repr__(self) -> str:
        return f"<SessionProcess {self.session.id!r} peer={self.peer!r} ro={self.read_only}>"

    # --- attaching (called by the manager) -------------------------------------

    def _start_at(self, offsets: dict[str, int | None]) -> None:
        """Resume a job's streams at ``offsets`` (None: the oldest byte held)."""
        readers: dict[str, _RingReader] = {}
        for name in STREAMS:
            ring = self.session.rings[name]
            wanted = offsets.get(name)
            if wanted is not None and wanted > ring.end:
                wanted = ring.end  # ahead of the stream: resume at its end
            start = ring.start if wanted is None else max(wanted, ring.start)
            if wanted is not None and wanted < ring.start:
                self.gaps.append(Gap(name, wanted, ring.start - wanted))
                STATS.gaps += 1
                STATS.gap_bytes += ring.start - wanted
            ring.attach(self, start)
            readers[name] = _RingReader(self, ring, start)
        self._stdout = readers["stdout"]
        self._stderr = readers["stderr"]
        self.session.add(self)

    def announcement(self) -> list[Attached | Gap]:
        """The v2 messages that follow ``pid`` on this client's connection."""
        session = self.session
        stdout = self._stdout.offset if isinstance(self._stdout, _RingReader) else 0
        stderr = self._stderr.offset if isinstance(self._stderr, _RingReader) else 0
        attached = Attached(
            id=session.id,
            created=self.created,
            tty=session.tty,
            resumable=session.resumable,
            read_only=self.read_only,
            stdout_offset=stdout,
            stderr_offset=stderr,
        )
        return [attached, *self.gaps]

    # --- TTY queue (called by the session) ------------------------------------

    @property
    def backlog(self) -> int:
        """TTY output queued for this client (0 while it waits for a redraw)."""
        return 0 if self._resync or self.detached else self._queued

    def _push(self, data: bytes) -> None:
        if self._resync:
            return
        if self._main_repaint is not None:
            data = self._repaint_main_after_leaving(data)
        self._queue.append(data)
        self._queued += len(data)
        self._wake()

    def _repaint_main_after_leaving(self, data: bytes) -> bytes:
        """``data`` with the main screen's repaint right after the switch back to it.

        After ``?1049l`` the terminal restored the cursor this client's redraw
        left it (the program's main cursor), so the repaint ends there; after
        ``?47l``/``?1047l`` the cursor stays where it was, so the repaint saves
        and restores it.
        """
        assert self._main_repaint is not None
        tail = self._tail
        window = tail + data
        for match in _RESET_PRIVATE.finditer(window):
            modes = set(match.group(1).split(b";"))
            cut = match.end() - len(tail)
            if cut <= 0 or not modes & _ALT_MODES:
                continue
            rows, cursor = self._main_repaint
            self._main_repaint = None
            self._tail = b""
            repaint = rows + cursor if b"1049" in modes else b"\x1b7" + rows + b"\x1b8"
            return data[:cut] + repaint + data[cut:]
        self._tail = window[-_TAIL:]
        return data

    def _resynchronise(self) -> None:
        """Too far behind for too long: drop the backlog, redraw the screen instead."""
        if self.detached:
            return
        self._queue.clear()
        self._queued = 0
        self._resync = True
        self._tasks.spawn(self.session.redraw_for(self), "redraw")

    async def _wait_drained(self) -> None:
        """Until the backlog is within ``client_buffer`` (or this client is gone)."""
        while self.backlog > self.session.config.client_buffer:
            await self._drained.wait()
            self._drained.clear()

    def _reset(self) -> None:
        """A redraw is being made: output from here on queues behind it."""
        self._queue.clear()
        self._queued = 0
        self._resync = False
        self._redrawing = True
        self._main_repaint = None
        self._tail = b""

    def _prepend(self, data: bytes, main: tuple[bytes, bytes] = (b"", b"")) -> None:
        """The redraw (may be empty): it goes first, and the queue may be read again.

        ``main``: the main screen's repaint when the redraw showed the alternate one.
        """
        if main[0]:
            self._main_repaint = main
        if data:
            self._queue.appendleft(data)
            self._queued += len(data)
        self._redrawing = False
        self._wake()

    def _wake(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def _wait(self) -> None:
        await self._event.wait()

    # --- Process ---------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.session.pid

    @property
    def stdin(self) -> _Input:
        return self._stdin

    @property
    def stdout(self) -> _QueueReader | _RingReader | _Empty:
        return self._stdout

    @property
    def stderr(self) -> _RingReader | _Empty:
        return self._stderr

    async def wait(self) -> ExitStatus:
        """The session's exit status. Once detached, there is nothing to wait for here."""
        session = self.session
        if self.detached and not session.exited.is_set():
            raise RuntimeError("detached from a session that is still running")
        await session.exited.wait()
        assert session.status is not None
        if not self.detached and session.resumable and not self.read_only:
            session.end("exited")  # a client has it all: the job is done
        return session.status

    async def resize(self, rows: int, cols: int) -> None:
        if self.read_only or self.detached or not rows or not cols:
            return
        self.size = (rows, cols)
        await self.session.apply_size()

    async def send_signal(self, signum: int) -> None:
        if self.read_only or self.detached:
            return
        await self.session.process.send_signal(signum)

    async def close(self) -> None:
        """Detach; the session lives on (until its timeout with nobody attached)."""
        if self.detached:
            return
        self.detached = True
        self._wake()
        self._drained.set()
        await self._tasks.close()
        await self.session.remove(self)
