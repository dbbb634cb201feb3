"""Non-blocking readers of a child's stdout/stderr (pipe or PTY master).

Each reader owns one fd and reads it directly with ``os.read``/``os.readv``
from the event loop (``loop.add_reader``), so the fast path can read straight
into a buffer that already holds the WebSocket message header: one
allocation and no copy per message.

End of stream is: ``read`` returning ``b""`` (all writers closed), ``EIO`` on
a PTY master (the slave side is gone), or the *linger* deadline the process
sets after the child exits, which stops a grandchild that still holds the
pipe from holding the session open.
"""

from __future__ import annotations

import array
import asyncio
import errno
import fcntl
import os
import termios

from wsep_protocol import FramedReader

__all__ = ["FramedReader", "PipeReader"]

#: Read size when the kernel cannot say how much is waiting.
_DEFAULT_CHUNK = 64 * 1024
#: A PTY master yields at most a few KiB per read: messages gather up to this much.
_TTY_CHUNK = 64 * 1024
#: What a PTY holds beyond FIONREAD's count (tty flip buffers 64 KiB + line discipline 4 KiB).
TTY_LINGER_SLACK = 68 * 1024


class PipeReader:
    """Reads one fd of a child process until EOF; satisfies ``ProcessReader`` and ``FramedReader``.

    ``fd`` is owned by the reader: it is closed at EOF or by :meth:`close`.
    """

    def __init__(
        self, fd: int | None, loop: asyncio.AbstractEventLoop, *, tty: bool = False
    ) -> None:
        self._fd = fd
        self._tty = tty
        self._slack = TTY_LINGER_SLACK if tty else 0
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        self._deadline_passed = False
        #: After the linger deadline: how much more may still be delivered.
        self._budget = -1
        self._linger_handle: asyncio.TimerHandle | None = None
        self._busy = False
        if fd is not None:
            os.set_blocking(fd, False)

    @property
    def at_eof(self) -> bool:
        return self._fd is None

    def fileno(self) -> int | None:
        return self._fd

    # -- lifecycle, driven by the process --------------------------------------------------

    def linger(self, delay: float) -> None:
        """Deliver EOF at the latest ``delay`` seconds from now (the child has exited)."""
        if self._fd is None or self._linger_handle is not None:
            return
        self._linger_handle = self._loop.call_later(delay, self._linger_expired)

    def _linger_expired(self) -> None:
        self._linger_handle = None
        self._deadline_passed = True
        # Deliver what is queued right now, not what a grandchild keeps writing. A PTY
        # also holds data FIONREAD does not count (the tty layer's buffers): the slack.
        fd = self._fd
        self._budget = max(_available(fd), 0) + self._slack if fd is not None else 0
        self._wake()

    def close(self) -> None:
        """Close the fd now; a pending or later read returns EOF."""
        if self._linger_handle is not None:
            self._linger_handle.cancel()
            self._linger_handle = None
        fd, self._fd = self._fd, None
        if fd is not None:
            if self._waiter is not None:
                self._loop.remove_reader(fd)
            os.close(fd)
        self._wake()

    # -- reading ---------------------------------------------------------------------------

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (everything until EOF when ``n < 0``); ``b""`` only at EOF."""
        if n < 0:
            chunks = []
            while chunk := await self.read(_DEFAULT_CHUNK * 16):
                chunks.append(chunk)
            return b"".join(chunks)
        if n == 0:
            return b""
        self._enter()
        try:
            while (fd := self._fd) is not None:
                if self._deadline_passed:
                    if self._budget <= 0:
                        break
                    n = min(n, self._budget)
                try:
                    data = os.read(fd, n)
                except BlockingIOError:
                    if self._deadline_passed:
                        break
                    await self._wait_readable(fd)
                    continue
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    data = b""
                if data:
                    if self._deadline_passed:
                        self._budget -= len(data)
                    return data
                break
            self.close()
            return b""
        finally:
            self._busy = False

    async def read_message(self, header: bytes, max_size: int) -> bytearray | bytes:
        """``header + data`` in one fresh buffer, sized to what the kernel has waiting."""
        room = max_size - len(header)
        if room <= 0:
            raise ValueError(f"max_size {max_size} leaves no room after the header")
        self._enter()
        try:
            waited = False
            while (fd := self._fd) is not None:
                avail = _available(fd)
                if self._deadline_passed:
                    if self._budget <= 0:
                        break
                    avail = min(self._budget, avail) if avail > 0 else min(self._budget, room)
                if avail == 0:
                    if self._deadline_passed:
                        break
                    if not waited:
                        # Nothing queued: wait instead of allocating a guess.
                        await self._wait_readable(fd)
                        waited = True
                        continue
                # Readable with nothing queued is EOF (or a race): read to find out.
                if self._tty:
                    size = min(room, _TTY_CHUNK, self._budget if self._deadline_passed else room)
                else:
                    size = min(room, avail) if avail > 0 else min(room, _DEFAULT_CHUNK)
                buf = bytearray(len(header) + size)
                buf[: len(header)] = header
                try:
                    got = os.readv(fd, [memoryview(buf)[len(header) :]])
                except BlockingIOError:
                    if self._deadline_passed:
                        break
                    await self._wait_readable(fd)
                    waited = True
                    continue
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    got = 0
                if got:
                    if self._tty and got < size:
                        got += _gather(fd, memoryview(buf)[len(header) + got :])
                    if self._deadline_passed:
                        self._budget -= got
                    if got < size:
                        del buf[len(header) + got :]
                    return buf
                break
            self.close()
            return b""
        finally:
            self._busy = False

    def _enter(self) -> None:
        if self._busy:
            raise RuntimeError("another coroutine is already reading from this reader")
        self._busy = True

    async def _wait_readable(self, fd: int) -> None:
        waiter = self._loop.create_future()
        self._waiter = waiter
        self._loop.add_reader(fd, self._wake)
        try:
            await waiter
        finally:
            self._waiter = None
            if self._fd == fd:
                self._loop.remove_reader(fd)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _gather(fd: int, rest: memoryview) -> int:
    """Read on into ``rest`` while data is ready at once (a PTY hands out small pieces)."""
    total = 0
    while total < len(rest):
        try:
            got = os.readv(fd, [rest[total:]])
        except OSError:  # EAGAIN, or EIO: the next read reports the end
            break
        if not got:
            break
        total += got
    return total


def _available(fd: int) -> int:
    """Bytes waiting (``FIONREAD``); -1 when the kernel cannot tell."""
    out = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, out, True)
    except OSError:
        return -1
    return out[0]
