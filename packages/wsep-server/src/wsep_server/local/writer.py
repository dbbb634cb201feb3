"""The child's stdin: a non-blocking writer with a bounded buffer.

``write`` tries the fd at once and keeps only what the pipe would not take;
``drain`` waits while the buffer is above the high-water mark, so a slow child
slows the sender down instead of growing memory (backpressure).
"""

from __future__ import annotations

import asyncio
import os
import termios

from wsep_protocol import Buffer

__all__ = ["PipeWriter"]

#: ``drain`` blocks while more than this is buffered...
HIGH_WATER = 256 * 1024
#: ...and resumes when the buffer is at or below this.
LOW_WATER = 64 * 1024


class PipeWriter:
    """Writes to the child's stdin fd; satisfies ``wsep_protocol.ProcessWriter``.

    ``fd`` is owned by the writer. ``fd=None`` is stdin that was not asked for: writes
    are discarded. Data the child no longer reads (it closed stdin: ``EPIPE``) is
    discarded too, so a client sending to a finished process is not an error.
    With ``tty=True``, ``close`` sends the terminal's EOF character (``^D``) instead of
    closing anything, which is what EOF means on a terminal in canonical mode.
    """

    def __init__(
        self,
        fd: int | None,
        loop: asyncio.AbstractEventLoop,
        *,
        tty: bool = False,
        high_water: int = HIGH_WATER,
        low_water: int = LOW_WATER,
    ) -> None:
        self._fd = fd
        self._loop = loop
        self._tty = tty
        self._high = high_water
        self._low = low_water
        self._buf = bytearray()
        self._writing = False
        self._closing = False
        self._broken = False
        self._drainers: list[asyncio.Future[None]] = []
        if fd is not None:
            os.set_blocking(fd, False)

    @property
    def buffered(self) -> int:
        return len(self._buf)

    @property
    def is_closing(self) -> bool:
        return self._closing or self._fd is None

    @property
    def needs_drain(self) -> bool:
        """Whether ``drain`` would wait (more than the high-water mark is buffered)."""
        return self._fd is not None and len(self._buf) > self._high

    @property
    def broken(self) -> bool:
        """The child closed its end; further input is discarded."""
        return self._broken

    def write(self, data: Buffer) -> None:
        if self._closing or self._fd is None or not data:
            return
        if self._buf:
            self._buf += data
            return
        try:
            n = os.write(self._fd, data)
        except BlockingIOError:
            n = 0
        except OSError:
            self._break()
            return
        if n < len(data):
            self._buf += memoryview(data)[n:]
            self._start_writing()

    async def drain(self) -> None:
        if len(self._buf) <= self._high or self._fd is None:
            return
        waiter = self._loop.create_future()
        self._drainers.append(waiter)
        await waiter

    def close(self) -> None:
        """EOF for the child once everything buffered is written."""
        if self._closing:
            return
        self._closing = True
        if not self._buf:
            self._finish()

    def abort(self) -> None:
        """Drop buffered data and close now (the process is being closed)."""
        self._closing = True
        self._buf.clear()
        self._release()

    # -- internals -------------------------------------------------------------------------

    def _start_writing(self) -> None:
        if not self._writing and self._fd is not None:
            self._writing = True
            self._loop.add_writer(self._fd, self._on_writable)

    def _stop_writing(self) -> None:
        if self._writing and self._fd is not None:
            self._loop.remove_writer(self._fd)
        self._writing = False

    def _on_writable(self) -> None:
        fd = self._fd
        if fd is None:
            return
        try:
            n = os.write(fd, self._buf)
        except BlockingIOError:
            return
        except OSError:
            self._break()
            return
        del self._buf[:n]
        if len(self._buf) <= self._low:
            self._wake_drainers()
        if not self._buf:
            self._stop_writing()
            if self._closing:
                self._finish()

    def _finish(self) -> None:
        if self._tty and self._fd is not None:
            _send_tty_eof(self._fd)
        self._release()

    def _break(self) -> None:
        self._broken = True
        self._buf.clear()
        self._release()

    def _release(self) -> None:
        self._stop_writing()
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        self._wake_drainers()

    def _wake_drainers(self) -> None:
        drainers, self._drainers = self._drainers, []
        for waiter in drainers:
            if not waiter.done():
                waiter.set_result(None)


def _send_tty_eof(fd: int) -> None:
    """Write the terminal's VEOF character when it is in canonical (line) mode."""
    try:
        attrs = termios.tcgetattr(fd)
        if attrs[3] & termios.ICANON:
            eof = attrs[6][termios.VEOF]
            os.write(fd, eof if isinstance(eof, bytes) else bytes([eof]))
    except OSError:
        pass
