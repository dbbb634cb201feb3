"""A WebSocket client built from raw frames, for tests that need exact bytes on the wire.

No WebSocket library: a TCP socket, the HTTP upgrade, and frames built and
parsed here, so tests can send what real libraries refuse to (fragmented
messages with empty continuations, oversized or malformed frames, data before
``start``) and see every frame the server sends, close frames included.

    ws = await RawWebSocket.connect("ws://127.0.0.1:8080/", subprotocols=["wsep.v2"])
    await ws.send_message(b'{"type":"start",...}')
    frame = await ws.recv_frame()      # Frame(fin, rsv1, opcode, payload)
    opcode, data = await ws.recv_message()
    code, reason = await ws.recv_close()
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from support import TIMEOUT

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Frame",
    "HandshakeError",
    "RawWebSocket",
    "build_frame",
]

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeError(Exception):
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        super().__init__(f"handshake failed with HTTP {status}: {body[:200]!r}")
        self.status = status
        self.headers = headers
        self.body = body


@dataclass(frozen=True)
class Frame:
    fin: bool
    rsv1: bool
    opcode: int
    payload: bytes
    masked: bool = False

    @property
    def close_code(self) -> int | None:
        if self.opcode != OP_CLOSE or len(self.payload) < 2:
            return None
        return int(struct.unpack("!H", self.payload[:2])[0])

    @property
    def close_reason(self) -> str:
        return self.payload[2:].decode("utf-8", "replace")


def _mask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return b""
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )


def build_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bool = True,
    mask_key: bytes | None = None,
    declared_length: int | None = None,
) -> bytes:
    """One frame's bytes. ``declared_length`` lies about the length (for limit tests)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    length = len(payload) if declared_length is None else declared_length
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return head + payload
    key = os.urandom(4) if mask_key is None else mask_key
    return head + key + _mask(payload, key)


class RawWebSocket:
    """The client end of one WebSocket connection, frame by frame."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.status = 0
        self.headers: dict[str, str] = {}

    @property
    def subprotocol(self) -> str | None:
        return self.headers.get("sec-websocket-protocol")

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        subprotocols: Iterable[str] = (),
        extensions: str | None = None,
        headers: Mapping[str, str] | None = None,
        raw_request: bytes | None = None,
    ) -> RawWebSocket:
        """Open TCP and upgrade; raises :class:`HandshakeError` unless the answer is 101.

        ``raw_request`` replaces the whole HTTP request (to replay captured bytes).
        """
        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=1 << 24), TIMEOUT
        )
        ws = cls(reader, writer)
        if raw_request is None:
            key = base64.b64encode(os.urandom(16)).decode()
            lines = [
                f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
                f"Host: {host}:{port}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13",
            ]
            protos = list(subprotocols)
            if protos:
                lines.append("Sec-WebSocket-Protocol: " + ", ".join(protos))
            if extensions:
                lines.append("Sec-WebSocket-Extensions: " + extensions)
            for name, value in (headers or {}).items():
                lines.append(f"{name}: {value}")
            raw_request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        else:
            key = ""
            for line in raw_request.decode("latin-1").split("\r\n"):
                if line.lower().startswith("sec-websocket-key:"):
                    key = line.split(":", 1)[1].strip()
        writer.write(raw_request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        ws.status = int(status_line.split()[1])
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                ws.headers[name.strip().lower()] = value.strip()
        if ws.status != 101:
            length = int(ws.headers.get("content-length", "0") or 0)
            body = await reader.readexactly(length) if length else b""
            writer.close()
            raise HandshakeError(ws.status, ws.headers, body)
        expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if ws.headers.get("sec-websocket-accept") != expected:
            writer.close()
            raise HandshakeError(ws.status, ws.headers, b"bad Sec-WebSocket-Accept")
        return ws

    # --- sending -----------------------------------------------------------

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_frame(self, opcode: int, payload: bytes = b"", **kwargs: object) -> None:
        await self.send_raw(build_frame(opcode, payload, **kwargs))  # type: ignore[arg-type]

    async def send_message(self, data: bytes | str, *, fragments: int = 1) -> None:
        """A binary (bytes) or text (str) message, split into ``fragments`` frames."""
        opcode = OP_TEXT if isinstance(data, str) else OP_BINARY
        payload = data.encode() if isinstance(data, str) else data
        if fragments <= 1:
            await self.send_raw(build_frame(opcode, payload))
            return
        step = max(1, -(-len(payload) // fragments))
        chunks = [payload[i : i + step] for i in range(0, len(payload), step)] or [b""]
        out = b""
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            out += build_frame(opcode if i == 0 else OP_CONT, chunk, fin=last)
        await self.send_raw(out)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame (the caller reads the answer with :meth:`recv_close`)."""
        await self.send_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode())

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.writer.transport.abort()

    # --- receiving ---------------------------------------------------------

    async def recv_frame(self, timeout: float = TIMEOUT) -> Frame:
        return await asyncio.wait_for(self._recv_frame(), timeout)

    async def _recv_frame(self) -> Frame:
        b1, b2 = await self.reader.readexactly(2)
        length = b2 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        masked = bool(b2 & 0x80)
        key = await self.reader.readexactly(4) if masked else b""
        payload = await self.reader.readexactly(length)
        if masked:
            payload = _mask(payload, key)
        return Frame(bool(b1 & 0x80), bool(b1 & 0x40), b1 & 0x0F, payload, masked)

    async def recv_message(self, timeout: float = TIMEOUT) -> tuple[int, bytes]:
        """The next data message (continuations joined) or close frame; pings answered."""
        opcode = -1
        parts: list[bytes] = []
        while True:
            frame = await self.recv_frame(timeout)
            if frame.opcode == OP_PING:
                await self.send_frame(OP_PONG, frame.payload)
                continue
            if frame.opcode == OP_PONG:
                continue
            if frame.opcode == OP_CLOSE:
                return OP_CLOSE, frame.payload
            if frame.opcode != OP_CONT:
                opcode = frame.opcode
            parts.append(frame.payload)
            if frame.fin:
                return opcode, b"".join(parts)

    async def recv_close(self, timeout: float = TIMEOUT) -> tuple[int | None, str]:
        """Skip data until the close frame; returns (code, reason)."""
        while True:
            opcode, payload = await self.recv_message(timeout)
            if opcode == OP_CLOSE:
                frame = Frame(True, False, OP_CLOSE, payload)
                return frame.close_code, frame.close_reason

    async def at_eof(self, timeout: float = TIMEOUT) -> bool:
        """Wait until the server closes TCP; True when it did within ``timeout``."""
        try:
            data = await asyncio.wait_for(self.reader.read(1 << 16), timeout)
            while data:
                data = await asyncio.wait_for(self.reader.read(1 << 16), timeout)
            return True
        except (asyncio.TimeoutError, ConnectionError):
            return False

    async def aclose(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    async def __aenter__(self) -> RawWebSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
