"""Helpers for session tests: read a client's output until something shows up."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from wsep_protocol import Command

if TYPE_CHECKING:
    from wsep_server.sessions import SessionManager

__all__ = ["PY", "Server", "collect", "py", "read_until", "script"]

PY = sys.executable
HERE = os.path.dirname(os.path.abspath(__file__))
#: The ``server`` fixture: starts a server, returns its URL and session manager.
Server = Callable[..., Awaitable[tuple[str, "SessionManager"]]]


def py(code: str, *, tty: bool = True, rows: int = 0, cols: int = 0, stdin: bool = True) -> Command:
    """A Python one-off as a command."""
    return Command(PY, ("-u", "-c", code), stdin=stdin, tty=tty, rows=rows, cols=cols)


def script(name: str, *args: str, tty: bool = True, rows: int = 0, cols: int = 0) -> Command:
    """A helper script from tests/sessions/scripts."""
    path = os.path.join(HERE, "scripts", name)
    return Command(PY, ("-u", path, *args), stdin=True, tty=tty, rows=rows, cols=cols)


async def read_until(reader: object, needle: bytes, *, timeout: float = 30.0) -> bytes:
    """Read ``reader`` until ``needle`` appears; returns everything read."""
    data = bytearray()

    async def go() -> None:
        while needle not in data:
            chunk = await reader.read(65536)  # type: ignore[attr-defined]
            if not chunk:
                raise EOFError(f"EOF before {needle!r}; got {bytes(data[-300:])!r}")
            data.extend(chunk)

    await asyncio.wait_for(go(), timeout)
    return bytes(data)


async def collect(reader: object, *, timeout: float = 30.0) -> bytes:
    """Read ``reader`` to EOF."""
    data = bytearray()

    async def go() -> None:
        while chunk := await reader.read(65536):  # type: ignore[attr-defined]
            data.extend(chunk)

    await asyncio.wait_for(go(), timeout)
    return bytes(data)
