"""Helpers for server tests: build wsep messages, drive a session over raw frames."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from rawws import OP_CLOSE, RawWebSocket
from wsep_protocol import Command, Start, encode

TIMEOUT = 30.0


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


def header(message: bytes) -> dict[str, object]:
    head, _, _ = message.partition(b"\n")
    obj = json.loads(head)
    assert isinstance(obj, dict)
    return obj


def body(message: bytes) -> bytes:
    return message.partition(b"\n")[2]


@dataclass
class Result:
    messages: list[bytes] = field(default_factory=list)
    stdout: bytes = b""
    stderr: bytes = b""
    pid: int | None = None
    exit: dict[str, object] | None = None
    errors: list[dict[str, object]] = field(default_factory=list)
    close: tuple[int | None, str] | None = None

    def types(self) -> list[str]:
        return [str(header(m)["type"]) for m in self.messages]


async def collect(ws: RawWebSocket, *, until_exit: bool = True) -> Result:
    """Read messages until exit_code (then close normally) or the server's close."""
    res = Result()
    out = bytearray()
    err = bytearray()
    while True:
        opcode, payload = await ws.recv_message(TIMEOUT)
        if opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            res.close = (code, payload[2:].decode())
            await ws.close(code or 1000)  # answer the server's close, as a client should
            break
        res.messages.append(payload)
        head = header(payload)
        kind = head["type"]
        if kind == "pid":
            res.pid = int(head["pid"])  # type: ignore[call-overload]
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
                res.close = await ws.recv_close(TIMEOUT)
                break
    res.stdout, res.stderr = bytes(out), bytes(err)
    return res


async def run(
    url: str,
    *argv: str,
    input: bytes | None = None,
    subprotocols: tuple[str, ...] = (),
    **start: object,
) -> Result:
    """One session: start, optional stdin then close_stdin, collect until exit."""
    ws = await RawWebSocket.connect(url, subprotocols=subprotocols)
    try:
        if input is not None:
            start["stdin"] = True
        await ws.send_message(start_bytes(*argv, **start))  # type: ignore[arg-type]
        if input is not None:
            if input:
                await ws.send_message(b'{"type":"stdin"}\n' + input)
            await ws.send_message(b'{"type":"close_stdin"}\n')
        return await asyncio.wait_for(collect(ws), TIMEOUT)
    finally:
        await ws.aclose()
