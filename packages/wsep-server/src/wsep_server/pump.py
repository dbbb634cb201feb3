"""The output pump: the process's stdout and stderr to the client, then its exit status.

Both streams are read concurrently, each message is awaited before the next
read (so a client that stops reading makes the child block on a full pipe,
never the server's memory grow), and the exit status is returned only after
both streams reached EOF and the process was waited for: output is never lost.

Framing is the connection's (:meth:`wsep_protocol.Connection.data_header`,
``frame_data``). When a reader is a :class:`~wsep_protocol.FramedReader` (the
local execer's are), the message is read straight into one buffer that
already holds the header; otherwise ``read(n)`` is used and the header
prepended. Which of the two is decided once per stream, not per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from wsep_protocol import (
    Buffer,
    Connection,
    ExitStatus,
    FramedReader,
    Process,
    ProcessReader,
    Stderr,
    Stdout,
)

from .flow import OutputGate

__all__ = ["OutputPump"]

_log = logging.getLogger("wsep_server.pump")

#: send(message bytes) -> awaitable; called for every output message.
SendFn = Callable[[Buffer], Awaitable[None]]
#: allow(n) -> how many of n output bytes may still be sent (limits).
AllowFn = Callable[[int], int]


class OutputPump:
    """Copies one process's output into WebSocket messages its connection allows."""

    def __init__(
        self,
        process: Process,
        send: SendFn,
        *,
        connection: Connection,
        tty: bool,
        allow: AllowFn | None = None,
        flow: OutputGate | None = None,
    ) -> None:
        """``connection`` (the server's) frames the output and bounds its messages."""
        self.process = process
        self._flow = flow
        self._send = send
        self._conn = connection
        self._max_size = connection.max_message_size
        self._tty = tty
        self._allow = allow
        self.bytes_out = 0

    def _allowed(self, n: int) -> int:
        """The limit's verdict on ``n`` bytes; a failing limit lets the output through."""
        assert self._allow is not None
        try:
            return self._allow(n)
        except Exception:
            _log.exception("output limit accounting failed; the output goes on unlimited")
            self._allow = None
            return n

    async def run(self) -> ExitStatus:
        """Pump both streams to EOF, then wait for the exit; returns the status."""
        conn = self._conn
        streams = [self._copy(self.process.stdout, conn.data_header(Stdout))]
        if not self._tty:
            streams.append(self._copy(self.process.stderr, conn.data_header(Stderr)))
        await asyncio.gather(*streams)
        return await self.process.wait()

    async def _copy(self, reader: ProcessReader, header: bytes) -> None:
        max_size = self._max_size
        frame = self._conn.frame_data
        hlen = len(header)
        read_message = reader.read_message if isinstance(reader, FramedReader) else None
        discarding = False
        flow = self._flow
        while True:
            size = max_size
            if flow is not None and not discarding:
                # Flow control: no read until the client has credit (the child blocks).
                size = hlen + await flow.reserve(max_size - hlen, header)
            if read_message is not None:
                message: Buffer = await read_message(header, size)
                if not message:
                    if flow is not None:
                        flow.commit(header, 0)
                    return
                n = len(message) - hlen
            else:
                data = await reader.read(size - hlen)
                if not data:
                    if flow is not None:
                        flow.commit(header, 0)
                    return
                message = frame(header, data)
                n = len(data)
            if discarding:
                continue  # over the output limit: drain the pipe so the child is not stuck
            if self._allow is not None:
                allowed = self._allowed(n)
                if allowed < n:
                    discarding = True
                    if allowed <= 0:
                        if flow is not None:
                            flow.commit(header, 0)
                        continue
                    message = memoryview(message)[: hlen + allowed]
                    n = allowed
            self.bytes_out += n
            if flow is not None:
                flow.commit(header, n)
            await self._send(message)
