"""A loopback TCP proxy that can freeze: stop forwarding and stop reading, both ways.

A frozen proxy is a peer that silently stops responding (a dead NAT entry, a
suspended laptop): no FIN, no RST, nothing. Only heartbeats can notice it.

    proxy = await FreezableProxy.start("127.0.0.1", server_port)
    ... connect to ws://127.0.0.1:{proxy.port}/ ...
    proxy.freeze()
    await proxy.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["FreezableProxy"]


class FreezableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._frozen = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @classmethod
    async def start(cls, target_host: str, target_port: int) -> FreezableProxy:
        proxy = cls(target_host, target_port)
        proxy._server = await asyncio.start_server(proxy._accept, "127.0.0.1", 0)
        proxy.port = proxy._server.sockets[0].getsockname()[1]
        return proxy

    def freeze(self) -> None:
        """From now on nothing is read or forwarded in either direction."""
        self._frozen.set()
        for writer in self._writers:
            # Stop reading at the socket level too, so the kernel buffers fill up.
            transport = writer.transport
            if isinstance(transport, asyncio.ReadTransport):
                transport.pause_reading()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while not self._frozen.is_set():
                data = await src.read(65536)
                if self._frozen.is_set():
                    break  # swallowed: a frozen peer never answers
                if not data:
                    dst.close()
                    return
                dst.write(data)
                await dst.drain()
        await self._frozen.wait()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for writer in self._writers:
            writer.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
