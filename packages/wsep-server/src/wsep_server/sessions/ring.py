"""A bounded buffer of one output stream, addressed by byte offset.

A resumable job's stdout and stderr each go into an :class:`OutputRing`: the
last ``capacity`` bytes are kept with their offsets (the count of bytes the
stream produced before them), so a client that lost its connection can ask
for the bytes from the offset it had reached. Bytes older than the ring are
gone; a reader asking for them learns exactly which range it missed.

Attached readers hold the writer back: :meth:`OutputRing.reserve` waits while
the slowest attached reader is a whole ring behind, so nobody attached ever
misses a byte. With nobody attached the writer never waits (the job is not
stalled) and the oldest bytes are evicted.
"""

from __future__ import annotations

import asyncio
from collections import deque

from .stats import STATS

__all__ = ["OutputRing"]


class OutputRing:
    """The last ``capacity`` bytes of a stream, and the readers' positions in it."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._chunks: deque[bytes] = deque()
        self._start = 0  # offset of the first retained byte
        self._size = 0
        self._eof = False
        self._readers: dict[object, int] = {}
        self._changed = asyncio.Event()

    # --- state ---------------------------------------------------------------

    @property
    def start(self) -> int:
        """Offset of the oldest byte still held."""
        return self._start

    @property
    def end(self) -> int:
        """Offset just after the newest byte: the stream's length so far."""
        return self._start + self._size

    @property
    def size(self) -> int:
        """Bytes held (at most ``capacity``)."""
        return self._size

    @property
    def eof(self) -> bool:
        return self._eof

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self) -> None:
        """Wait for the next append, EOF, reader move or detach."""
        await self._changed.wait()

    # --- writing ---------------------------------------------------------------

    def _room(self, n: int) -> bool:
        if not self._readers:
            return True
        slowest = min(self._readers.values())
        return self.end + n - slowest <= self.capacity

    async def reserve(self, n: int) -> None:
        """Wait until ``n`` more bytes would not evict what an attached reader still needs."""
        n = min(n, self.capacity)
        while not self._room(n):
            await self.changed()

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes at :attr:`end`, evicting the oldest beyond ``capacity``."""
        if not len(data):
            return
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._size += len(chunk)
        excess = self._size - self.capacity
        while excess > 0:
            first = self._chunks[0]
            if len(first) <= excess:
                self._chunks.popleft()
                cut = len(first)
            else:
                self._chunks[0] = first[excess:]
                cut = excess
            self._start += cut
            self._size -= cut
            excess -= cut
            STATS.evictions += 1
            STATS.evicted_bytes += cut
        self._notify()

    def close(self) -> None:
        """The stream reached EOF."""
        self._eof = True
        self._notify()

    # --- reading ---------------------------------------------------------------

    def read(self, offset: int, max_bytes: int) -> tuple[int, bytes]:
        """(first offset actually available, up to ``max_bytes`` from there).

        The first value is greater than ``offset`` when the bytes in between were
        evicted (a gap); the data is empty when nothing past ``offset`` is held yet.
        """
        if offset > self.end:
            raise ValueError(f"offset {offset} is past the end of the stream ({self.end})")
        offset = max(offset, self._start)
        skip = offset - self._start
        parts: list[bytes] = []
        want = max_bytes
        for chunk in self._chunks:
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            piece = chunk[skip : skip + want] if skip or want < len(chunk) else chunk
            skip = 0
            parts.append(piece)
            want -= len(piece)
            if want <= 0:
                break
        return offset, b"".join(parts) if len(parts) != 1 else parts[0]

    def attach(self, reader: object, offset: int) -> None:
        """Count ``reader`` (at ``offset``) among those the writer must wait for."""
        self._readers[reader] = max(offset, self._start)
        self._notify()

    def advance(self, reader: object, offset: int) -> None:
        if reader in self._readers:
            self._readers[reader] = offset
            self._notify()

    def detach(self, reader: object) -> None:
        if self._readers.pop(reader, None) is not None:
            self._notify()
