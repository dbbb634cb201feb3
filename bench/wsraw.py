"""Raw-WebSocket load generator: speaks wsep with aiohttp and the protocol codec only.

It needs nothing but a server, so server figures do not depend on the client
SDK; each process runs on its own WebSocket, as a v1 peer must.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from wsep_protocol import (
    STDIN_HEADER,
    STDOUT_HEADER,
    SUBPROTOCOL_V2,
    V1_MAX_MESSAGE_SIZE,
    Buffer,
    CloseStdin,
    Command,
    Error,
    ExitCode,
    Pid,
    Start,
    Stderr,
    Stdout,
    decode,
    encode,
)

__all__ = [
    "V2_DATA_SIZE",
    "ProcessFailed",
    "WsProcess",
    "data_size_for",
    "open_session",
    "sleep_until",
]

#: Data bytes per stdin message in the negotiated mode (the header fits in the 1 KiB slack).
V2_DATA_SIZE = 1 << 20
_STDOUT_LEN = len(STDOUT_HEADER)
_CLOSE_STDIN = encode(CloseStdin())


def data_size_for(version: int) -> int:
    """Data bytes per stdin message: v1 keeps the whole message within 64,000 bytes."""
    return V1_MAX_MESSAGE_SIZE - len(STDIN_HEADER) if version == 1 else V2_DATA_SIZE


def open_session(limit: int = 0, *, ca: str | None = None) -> aiohttp.ClientSession:
    """``ca``: for ``wss://``, the only CA the server's certificate is verified against."""
    from .tls import client_context

    connector = aiohttp.TCPConnector(limit=limit, force_close=True, ssl=client_context(ca) or True)
    return aiohttp.ClientSession(connector=connector)


class ProcessFailed(RuntimeError):
    pass


class WsProcess:
    """One remote process on its own WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse[Any], version: int) -> None:
        self.ws = ws
        self.version = version
        self.pid = 0
        self.exit: ExitCode | None = None
        self.stderr = bytearray()

    @classmethod
    async def start(
        cls,
        session: aiohttp.ClientSession,
        url: str,
        version: int,
        argv: Sequence[str],
        *,
        stdin: bool = False,
        tty: bool = False,
    ) -> WsProcess:
        ws = await session.ws_connect(
            url,
            protocols=(SUBPROTOCOL_V2,) if version == 2 else (),
            compress=0,
            max_msg_size=8 << 20,
            autoclose=True,
            autoping=True,
        )
        if version == 2 and ws.protocol != SUBPROTOCOL_V2:
            await ws.close()
            raise ProcessFailed(f"server did not select {SUBPROTOCOL_V2} (got {ws.protocol!r})")
        self = cls(ws, version)
        command = Command(
            argv[0], tuple(argv[1:]), stdin=stdin, tty=tty, rows=24 if tty else 0, cols=80
        )
        await ws.send_bytes(encode(Start(command)))
        msg = await self._next()
        if not isinstance(msg, Pid):
            raise ProcessFailed(f"expected pid, got {msg!r}")
        self.pid = msg.pid
        return self

    async def _next(self) -> object:
        """The next message that is not stdout (stdout is handled by the callers)."""
        while True:
            m = await self.ws.receive()
            if m.type is not aiohttp.WSMsgType.BINARY and m.type is not aiohttp.WSMsgType.TEXT:
                raise ProcessFailed(
                    f"connection ended: {m.type.name} {self.ws.close_code} {m.extra!r}"
                )
            msg = decode(m.data)
            if isinstance(msg, Error):
                raise ProcessFailed(f"server error {msg.code}: {msg.message}")
            if isinstance(msg, Stderr):
                self.stderr += msg.data
                continue
            return msg

    async def _next_stdout(self) -> tuple[Buffer, int] | None:
        """The next stdout message and where its body starts; None once the exit code arrived."""
        ws, binary = self.ws, aiohttp.WSMsgType.BINARY
        while self.exit is None:
            m = await ws.receive()
            data = m.data
            if m.type is binary and data[:_STDOUT_LEN] == STDOUT_HEADER:
                return data, _STDOUT_LEN
            if m.type is not binary and m.type is not aiohttp.WSMsgType.TEXT:
                raise ProcessFailed(f"connection ended: {m.type.name} {ws.close_code}")
            msg = decode(data)
            if isinstance(msg, Stdout):
                return msg.data, 0
            if isinstance(msg, Stderr):
                self.stderr += msg.data
            elif isinstance(msg, ExitCode):
                self.exit = msg
            elif isinstance(msg, Error):
                raise ProcessFailed(f"server error {msg.code}: {msg.message}")
        return None

    async def read_stdout(self) -> bytes | None:
        """The next stdout chunk, or None once the exit code arrived."""
        got = await self._next_stdout()
        if got is None:
            return None
        data, start = got
        return bytes(data[start:])

    async def read_len(self) -> int | None:
        """Bytes in the next stdout message (not kept), or None once the exit code arrived."""
        got = await self._next_stdout()
        return None if got is None else len(got[0]) - got[1]

    async def count_stdout(self) -> int:
        """Read stdout to the exit code, counting bytes without keeping them."""
        ws, n = self.ws, 0
        binary = aiohttp.WSMsgType.BINARY
        while True:
            m = await ws.receive()
            data = m.data
            if m.type is binary and data[:_STDOUT_LEN] == STDOUT_HEADER:
                n += len(data) - _STDOUT_LEN
                continue
            if m.type is not binary and m.type is not aiohttp.WSMsgType.TEXT:
                raise ProcessFailed(f"connection ended: {m.type.name} {ws.close_code}")
            msg = decode(data)
            if isinstance(msg, Stdout):
                n += len(msg.data)
            elif isinstance(msg, Stderr):
                self.stderr += msg.data
            elif isinstance(msg, ExitCode):
                self.exit = msg
                return n
            elif isinstance(msg, Error):
                raise ProcessFailed(f"server error {msg.code}: {msg.message}")

    async def send_stdin(self, message: bytes) -> None:
        """Send a ready-made stdin message (``STDIN_HEADER + data``)."""
        await self.ws.send_bytes(message)

    async def close_stdin(self) -> None:
        await self.ws.send_bytes(_CLOSE_STDIN)

    async def wait(self) -> ExitCode:
        while self.exit is None:
            chunk = await self.read_stdout()
            if chunk is None:
                break
        assert self.exit is not None
        return self.exit

    async def close(self) -> None:
        await self.ws.close()

    def check_ok(self, what: str) -> None:
        if self.exit is None or self.exit.exit_code != 0:
            raise ProcessFailed(f"{what}: exit {self.exit!r}, stderr {bytes(self.stderr)[:200]!r}")


async def sleep_until(deadline: float) -> None:
    delay = deadline - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
