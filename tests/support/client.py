"""Sizes and helpers shared by the client tests."""

from __future__ import annotations

import asyncio
import contextlib

from support import scaled

__all__ = ["BIG", "CP_SIZE", "Proxy"]

#: Bytes each way for the SDK streaming test.
BIG = scaled(12_000_000, 100_000_000)
#: Bytes each way for ``wsep cp``.
CP_SIZE = scaled(8_000_000, 50_000_000)


class Proxy:
    """A TCP proxy between the client and a server that a test can cut."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.connected = asyncio.Event()
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]
        self.connected.set()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(1 << 16):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        """Drop every connection at once (the network went away)."""
        for writer in self.writers:
            transport = writer.transport
            transport.abort()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
