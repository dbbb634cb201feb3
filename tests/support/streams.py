"""Reading an asyncio-style stream (``await reader.read(n)``) in tests."""

from __future__ import annotations

import asyncio

from support import TIMEOUT

__all__ = ["read_all", "read_until"]


async def read_all(reader: object, *, timeout: float = TIMEOUT) -> bytes:
    """Everything ``reader`` delivers until EOF; ``timeout`` limits each read (a stall,
    never a long transfer, trips it)."""
    data = bytearray()
    while chunk := await asyncio.wait_for(reader.read(1 << 16), timeout):  # type: ignore[attr-defined]
        data.extend(chunk)
    return bytes(data)


async def read_until(reader: object, needle: bytes, *, timeout: float = TIMEOUT) -> bytes:
    """Read ``reader`` until ``needle`` appears; returns everything read."""
    data = bytearray()

    async def go() -> None:
        while needle not in data:
            chunk = await reader.read(1 << 16)  # type: ignore[attr-defined]
            if not chunk:
                raise EOFError(f"EOF before {needle!r}; got {bytes(data[-300:])!r}")
            data.extend(chunk)

    await asyncio.wait_for(go(), timeout)
    return bytes(data)
