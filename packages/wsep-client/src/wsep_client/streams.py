"""stdout/stderr readers and the stdin writer of a :class:`RemoteProcess`.

Flow control works as with pipes. Each reader is an ``asyncio.StreamReader``
with a bounded buffer: when one holds more than twice its ``limit``, the
process stops taking messages off the WebSocket until it drains below
``limit``. The TCP window then fills and the remote process blocks on its
next write. stdout and stderr share one connection, so a stream that nobody
reads eventually stops the other one too, exactly like an unread pipe; read
both concurrently, or use :meth:`RemoteProcess.communicate`, which does.

stdin is chunked into messages the peer accepts (64,000 bytes per message
for a v1 peer) and sent in order by one task; :meth:`RemoteStdin.drain`
waits until at most ``high_water`` bytes are queued.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable

from wsep_protocol import Buffer, Connection, FrameBuffer, Role, Stdin

from .errors import LocalProtocolError

__all__ = ["DEFAULT_LIMIT", "RemoteStdin", "RemoteStreamReader"]

#: Per-stream buffer limit: reading pauses above twice this many bytes.
DEFAULT_LIMIT = 1 << 20
#: The most one ``read(n)`` returns: large allocations per read are fresh memory.
_PIECE = 256 << 10


class _Gate:
    """The "transport" both readers pause: reading resumes when neither is full."""

    def __init__(self) -> None:
        self._paused: set[int] = set()
        self.open = asyncio.Event()
        self.open.set()
        #: Set while reading is paused (tests and monitoring look at it).
        self.paused = asyncio.Event()

    def pause(self, key: int) -> None:
        self._paused.add(key)
        self.open.clear()
        self.paused.set()

    def resume(self, key: int) -> None:
        self._paused.discard(key)
        if not self._paused:
            self.paused.clear()
            self.open.set()


class _PauseHandle:
    """What ``StreamReader.set_transport`` expects: pause_reading/resume_reading."""

    def __init__(self, gate: _Gate, key: int) -> None:
        self._gate = gate
        self._key = key

    def pause_reading(self) -> None:
        self._gate.pause(self._key)

    def resume_reading(self) -> None:
        self._gate.resume(self._key)


class RemoteStreamReader(asyncio.StreamReader):
    """A process's stdout or stderr: the full ``asyncio.StreamReader`` API.

    ``read``, ``readline``, ``readexactly``, ``readuntil``, ``at_eof`` and
    ``async for line in reader``. ``peak_buffered`` is the largest number of
    bytes it ever held (for checking that memory stays bounded).

    Received messages are kept as they arrived (views of the WebSocket
    messages, no copy) and ``read(n)`` hands them out with one copy, at most
    256 KiB at a time: bulk reads neither grow nor shrink a large buffer per
    message, and hand the allocator pieces it recycles instead of fresh pages
    to fault in (without a process-wide ``tune_malloc()``). Only the line and
    exact-size readers gather the messages into ``StreamReader``'s buffer.
    """

    def __init__(self, gate: _Gate, key: int, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__(limit=limit)
        self.set_transport(_PauseHandle(gate, key))  # type: ignore[arg-type]
        self.peak_buffered = 0
        self.bytes_received = 0
        self._after_data: BaseException | None = None
        self._in_readline = False
        self._chunks: collections.deque[memoryview] = collections.deque()
        self._chunk_bytes = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not read yet."""
        return len(self._buffer) + self._chunk_bytes  # type: ignore[attr-defined]

    @property
    def ending(self) -> bool:
        """An error waits behind the buffered data (see :meth:`fail_after_data`)."""
        return self._after_data is not None

    def fail_after_data(self, error: BaseException) -> None:
        """Let what is buffered be read, then raise ``error`` where EOF would be."""
        self._after_data = error
        self.feed_eof()

    def _at_end(self) -> None:
        if self._after_data is not None:
            raise self._after_data

    def at_eof(self) -> bool:
        return super().at_eof() and not self._chunks

    async def read(self, n: int = -1) -> bytes:
        if n < 0:
            data = await super().read(n)  # reads ``limit`` bytes at a time with this method
        else:
            data = await self._read_chunks(n)
        if not data and n:
            self._at_end()
        return data

    async def _read_chunks(self, n: int) -> bytes:
        exc = self.exception()
        if exc is not None:
            raise exc
        if n == 0:
            return b""
        buffer: bytearray = self._buffer  # type: ignore[attr-defined]
        if not buffer and not self._chunks and not self._eof:  # type: ignore[attr-defined]
            # The base class's wait (ours gathers the chunks into the buffer).
            await asyncio.StreamReader._wait_for_data(self, "read")  # type: ignore[attr-defined]
        if buffer:  # left there by a line reader
            data = bytes(memoryview(buffer)[:n])
            del buffer[:n]
        else:
            data = self._take_chunks(n)
        self._maybe_resume_transport()
        return data

    def _take_chunks(self, n: int) -> bytes:
        """Up to ``n`` bytes off the received chunks, copied once."""
        chunks = self._chunks
        if not chunks:
            return b""
        n = min(n, _PIECE)
        first = chunks[0]
        if len(first) >= n:
            if len(first) == n:
                chunks.popleft()
                data = first.tobytes()
            else:
                data = first[:n].tobytes()
                chunks[0] = first[n:]
            self._chunk_bytes -= n
            return data
        parts: list[memoryview] = []
        left = n
        while chunks and left:
            chunk = chunks[0]
            if len(chunk) <= left:
                parts.append(chunks.popleft())
                left -= len(chunk)
            else:
                parts.append(chunk[:left])
                chunks[0] = chunk[left:]
                left = 0
        self._chunk_bytes -= n - left
        return b"".join(parts)

    def _gather(self) -> None:
        """Move the received chunks into the buffer the line readers search."""
        if self._chunks:
            buffer: bytearray = self._buffer  # type: ignore[attr-defined]
            for chunk in self._chunks:
                buffer += chunk
            self._chunks.clear()
            self._chunk_bytes = 0

    async def _wait_for_data(self, func_name: str) -> None:
        """The line readers' wait: the chunks they have not seen are data too."""
        if not self._chunks:
            await super()._wait_for_data(func_name)  # type: ignore[misc]
        self._gather()

    def _maybe_resume_transport(self) -> None:
        if self._paused and self.buffered <= self._limit:  # type: ignore[attr-defined,has-type]
            self._paused = False
            self._transport.resume_reading()  # type: ignore[attr-defined]

    async def readuntil(self, separator: bytes = b"\n") -> bytes:  # type: ignore[override]
        self._gather()
        try:
            return await super().readuntil(separator)
        except asyncio.IncompleteReadError as exc:
            if not self._in_readline and self._after_data is not None:
                raise self._after_data from exc  # the partial data is on ``__cause__``
            raise

    async def readline(self) -> bytes:
        self._in_readline = True  # a last partial line is returned before the error
        try:
            data = await super().readline()
        finally:
            self._in_readline = False
        if not data:
            self._at_end()
        return data

    async def readexactly(self, n: int) -> bytes:
        self._gather()
        try:
            return await super().readexactly(n)
        except asyncio.IncompleteReadError as exc:
            if self._after_data is not None:
                raise self._after_data from exc  # the partial data is on ``__cause__``
            raise

    def feed_data(self, data: Buffer) -> None:  # type: ignore[override]
        view = memoryview(data)
        size = view.nbytes
        if not size:
            return
        assert not self._eof, "feed_data after feed_eof"  # type: ignore[attr-defined]
        if not isinstance(view.obj, bytes):
            view = memoryview(view.tobytes())  # the sender may reuse its buffer
        elif view.ndim != 1 or view.format != "B":
            view = view.cast("B")
        self._chunks.append(view)
        self._chunk_bytes += size
        self.bytes_received += size
        self._wakeup_waiter()  # type: ignore[attr-defined]
        buffered = self.buffered
        if buffered > self.peak_buffered:
            self.peak_buffered = buffered
        if buffered > 2 * self._limit and not self._paused:  # type: ignore[attr-defined]
            self._paused = True
            self._transport.pause_reading()  # type: ignore[attr-defined]


_CLOSE = object()
#: Frames stdin for a writer made without a connection's ``frames``.
_CLIENT = Connection(Role.CLIENT)


class RemoteStdin:
    """A process's stdin: ``write``/``drain``/``close`` like ``asyncio.StreamWriter``.

    ``close()`` sends ``close_stdin`` after everything written before it.
    Writing after the process exited raises ``BrokenPipeError``, as a pipe does.
    ``frames`` (the connection's :meth:`~wsep_protocol.Connection.frame_buffer`)
    frames each message in one reused buffer.
    """

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        *,
        max_message_size: int,
        close_message: Callable[[], bytes],
        enabled: bool,
        high_water: int = 1 << 20,
        frames: FrameBuffer | None = None,
    ) -> None:
        self._send = send
        #: One message at a time is framed here and sent: no large allocation per message.
        self._frames = frames if frames is not None else _CLIENT.frame_buffer(Stdin)
        self._chunk = max_message_size - len(self._frames.header)
        self._close_message = close_message
        self._enabled = enabled
        self._disabled_reason = "stdin was not enabled for this process"
        self.high_water = high_water
        self._queue: collections.deque[memoryview | object] = collections.deque()
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self.bytes_sent = 0

    @property
    def max_chunk(self) -> int:
        """The most stdin bytes one message carries on this connection."""
        return self._chunk

    def is_closing(self) -> bool:
        return self._closing

    def write(self, data: Buffer) -> None:
        """Queue ``data``, cut into messages the peer accepts; never blocks."""
        self._check()
        if self._closing:
            raise LocalProtocolError("write after stdin.close()")
        view = memoryview(data)
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B")
        size = len(view)
        if not size:
            return
        if not isinstance(view.obj, bytes):
            view = memoryview(view.tobytes())  # the caller may change its buffer after this
        step = self._chunk
        for start in range(0, size, step):
            self._queue.append(view[start : start + step])
        self._queued += size
        if self._queued > self.high_water:
            self._drained.clear()
        self._kick()

    def writelines(self, data: list[Buffer]) -> None:
        for item in data:
            self.write(item)

    async def drain(self) -> None:
        """Wait until at most ``high_water`` bytes are queued."""
        self._check()
        if self._queued > self.high_water:
            await self._drained.wait()
            self._check()

    def close(self) -> None:
        """End of input: the process reads EOF after what was written."""
        if self._closing or self._error is not None:
            return
        self._closing = True
        if self._enabled:
            self._queue.append(_CLOSE)
            self._kick()

    async def wait_closed(self) -> None:
        """Wait until everything queued, ``close_stdin`` included, was sent."""
        await self._idle.wait()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.close()

    # --- the process's side ----------------------------------------------

    def disable(self, reason: str) -> None:
        """Refuse every write with ``reason`` (e.g. a read-only attachment)."""
        self._enabled = False
        self._disabled_reason = reason

    def fail(self, error: BaseException) -> None:
        """Stop sending: everything still queued is dropped; writers get ``error``."""
        if self._error is None:
            self._error = error
        self._queue.clear()
        self._queued = 0
        self._drained.set()
        self._idle.set()
        self._wakeup.set()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if not self._enabled:
            raise LocalProtocolError(self._disabled_reason)

    def _kick(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._pump())
        self._idle.clear()
        self._wakeup.set()

    async def _pump(self) -> None:
        queue = self._queue
        while self._error is None:
            if not queue:
                self._drained.set()
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            item = queue.popleft()
            if item is _CLOSE:
                payload: bytes | memoryview = self._close_message()
                size = 0
                self._frames.reset()  # no more input: let the buffer go
            else:
                assert isinstance(item, memoryview)
                size = len(item)
                payload = self._frames.frame(item)
            try:
                # ``payload`` is not changed before this returns (one send at a time).
                await self._send(payload)  # type: ignore[arg-type]
            except Exception as exc:
                self.fail(BrokenPipeError(f"stdin: {exc}"))
                return
            finally:
                if item is not _CLOSE:
                    payload.release()  # type: ignore[union-attr]
            self._queued -= size
            self.bytes_sent += size
            if self._queued <= self.high_water and not self._drained.is_set():
                self._drained.set()
