"""wsep messages over a raw WebSocket: build ``start``, read a session to its end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from wsep_protocol import Command, Start, encode

from support import TIMEOUT
from support.rawws import OP_CLOSE, RawWebSocket

__all__ = [
    "Result",
    "body",
    "collect",
    "expect_close",
    "free_port",
    "header",
    "pid_of",
    "port_of",
    "run",
    "start_bytes",
]


def start_bytes(
    *argv: str,
    stdin: bool = False,
    tty: bool = False,
    rows: int = 0,
    cols: int = 0,
    env: tuple[str, ...] = (),
    working_dir: str = "",
    id: str = "",
) -> bytes:
    command = Command(
        command=argv[0],
        args=tuple(argv[1:]),
        stdin=stdin,
        tty=tty,
        rows=rows,
        cols=cols,
        env=env,
        working_dir=working_dir,
    )
    return encode(Start(command=command, id=id))


def header(message: bytes) -> dict[str, Any]:
    head, _, _ = message.partition(b"\n")
    obj = json.loads(head)
    assert isinstance(obj, dict)
    return obj


def body(message: bytes) -> bytes:
    return message.partition(b"\n")[2]


@dataclass
class Result:
    """What one session delivered, in order."""

    messages: list[bytes] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    stdout: bytes = b""
    stderr: bytes = b""
    pid: int | None = None
    exit: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    close: tuple[int | None, str] | None = None


async def collect(ws: RawWebSocket, *, until_exit: bool = True, timeout: float = TIMEOUT) -> Result:
    """Read messages until ``exit_code`` (then close 1000 and read the echo) or the
    server's close (answered, as a client should)."""
    res = Result()
    out = bytearray()
    err = bytearray()
    while True:
        opcode, payload = await ws.recv_message(timeout)
        if opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            res.close = (code, payload[2:].decode(errors="replace"))
            with contextlib.suppress(ConnectionError, OSError):
                await ws.close(code or 1000)
            break
        res.messages.append(payload)
        head = header(payload)
        kind = str(head["type"])
        res.types.append(kind)
        if kind == "pid":
            res.pid = int(head["pid"])
        elif kind == "stdout":
            out += body(payload)
        elif kind == "stderr":
            err += body(payload)
        elif kind == "error":
            res.errors.append(head)
        elif kind == "exit_code":
            res.exit = head
            if until_exit:
                await ws.close(1000, "normal closure")
                res.close = await ws.recv_close(timeout)
                break
    res.stdout, res.stderr = bytes(out), bytes(err)
    return res


async def run(
    url: str,
    *argv: str,
    input: bytes | None = None,
    subprotocols: tuple[str, ...] = (),
    **start: Any,
) -> Result:
    """One session: start, optional stdin then close_stdin, collect until exit."""
    ws = await RawWebSocket.connect(url, subprotocols=subprotocols)
    try:
        if input is not None:
            start["stdin"] = True
        await ws.send_message(start_bytes(*argv, **start))
        if input is not None:
            if input:
                await ws.send_message(b'{"type":"stdin"}\n' + input)
            await ws.send_message(b'{"type":"close_stdin"}\n')
        return await asyncio.wait_for(collect(ws), TIMEOUT)
    finally:
        await ws.aclose()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a program that needs one named)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_of(url: str) -> int:
    """The port of a ``ws://host:port/...`` URL."""
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


async def expect_close(ws: RawWebSocket, timeout: float = TIMEOUT) -> tuple[int | None, str]:
    """Read (ignoring data) until the server's close frame; answer it."""
    code, reason = await ws.recv_close(timeout)
    with contextlib.suppress(ConnectionError, OSError):
        await ws.close(code or 1000)
    return code, reason


async def pid_of(ws: RawWebSocket) -> int:
    """The pid from the first message after ``start``."""
    opcode, msg = await ws.recv_message(TIMEOUT)
    assert opcode != OP_CLOSE, msg
    head = header(msg)
    assert head["type"] == "pid", head
    return int(head["pid"])
