"""A minimal wsep client for session tests: raw aiohttp WebSocket + the protocol state machine."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from wsep_protocol import (
    SUBPROTOCOL_V2,
    Connection,
    ExitCode,
    ProtocolVersion,
    Role,
    Stderr,
    Stdin,
    Stdout,
)

__all__ = ["ClientPool", "WsClient"]


class WsClient:
    """One connection. ``await WsClient.open(url, v2=True)``; ``close()`` or ``drop()``."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        version = ProtocolVersion.V2 if ws.protocol == SUBPROTOCOL_V2 else ProtocolVersion.V1
        self.conn = Connection(Role.CLIENT, version)
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.messages: list[Any] = []

    @classmethod
    async def open(cls, url: str, *, v2: bool = False, token: str | None = None) -> WsClient:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        http = aiohttp.ClientSession(headers=headers)
        try:
            ws = await http.ws_connect(
                url, protocols=(SUBPROTOCOL_V2,) if v2 else (), max_msg_size=0
            )
        except BaseException:
            await http.close()
            raise
        return cls(http, ws)

    async def send(self, message: Any) -> None:
        await self.ws.send_bytes(self.conn.send(message))

    async def type(self, text: str) -> None:
        await self.send(Stdin(text.encode()))

    async def recv(self, timeout: float = 30.0) -> Any:
        """The next protocol message (output is also collected), or the close message."""
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), timeout)
            if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                return msg
            message = self.conn.receive(msg.data)
            if message is None:
                continue
            if isinstance(message, Stdout):
                self.stdout += message.data
            elif isinstance(message, Stderr):
                self.stderr += message.data
            self.messages.append(message)
            return message

    async def until_output(self, needle: bytes, timeout: float = 30.0) -> bytes:
        async def go() -> None:
            while needle not in self.stdout:
                got = await self.recv()
                if isinstance(got, (ExitCode, aiohttp.WSMessage)):
                    raise AssertionError(
                        f"{got!r} before {needle!r}: {bytes(self.stdout[-300:])!r}"
                    )

        await asyncio.wait_for(go(), timeout)
        return bytes(self.stdout)

    async def until(self, kind: type, timeout: float = 30.0) -> Any:
        async def go() -> Any:
            while True:
                got = await self.recv()
                if isinstance(got, kind):
                    return got
                if isinstance(got, aiohttp.WSMessage):
                    raise AssertionError(f"closed before {kind.__name__}: {got!r}")

        return await asyncio.wait_for(go(), timeout)

    async def closed(self, timeout: float = 30.0) -> aiohttp.WSMessage:
        """Read until the server closes; returns the close message."""
        while True:
            got = await self.recv(timeout)
            if isinstance(got, aiohttp.WSMessage):
                return got

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()

    async def drop(self) -> None:
        """Lose the connection: no close frame, the TCP connection just goes."""
        conn = getattr(self.ws, "_conn", None)
        transport = getattr(conn, "transport", None)
        if transport is not None:
            transport.abort()
        await self.http.close()


class ClientPool:
    """The clients a test opened, all closed at its end (``async with ClientPool()``)."""

    def __init__(self) -> None:
        self.opened: list[WsClient] = []

    async def connect(self, url: str, *, v2: bool = False, token: str | None = None) -> WsClient:
        client = await WsClient.open(url, v2=v2, token=token)
        self.opened.append(client)
        return client

    async def start(
        self, url: str, message: Any, *, v2: bool = False, token: str | None = None
    ) -> WsClient:
        """A new client that has sent ``message`` (a ``start`` or ``attach``)."""
        client = await self.connect(url, v2=v2, token=token)
        await client.send(message)
        return client

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.opened:
            await client.close()
