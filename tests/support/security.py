"""Helpers for the security tests: a counting execer, one-shot sessions, handshakes."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from wsep_protocol import Command, Process

from support import TIMEOUT

__all__ = [
    "JWT_SECRET",
    "PASSWORD",
    "RUNNING_AS_ROOT",
    "TOKENS",
    "CountingExecer",
    "Layout",
    "MakeSecure",
    "Outcome",
    "SecureServer",
    "attempt",
    "auth",
    "handshake_refusal",
    "make_jwt",
    "raw_http",
    "start_message",
    "upgrade_head",
    "wait_for",
]


class CountingExecer:
    """Wraps the real execer and counts every start (and every resolve)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.started: list[Command] = []
        self.pids: list[int] = []

    def resolve(self, command: Command) -> str:
        path: str = self.inner.resolve(command)
        return path

    async def start(self, command: Command) -> Process:
        self.started.append(command)
        process: Process = await self.inner.start(command)
        self.pids.append(process.pid)
        return process


def start_message(
    command: str,
    *args: str,
    tty: bool = False,
    uid: int = 0,
    gid: int = 0,
    env: Sequence[str] = (),
    working_dir: str = "",
    stdin: bool = False,
    rows: int = 0,
    cols: int = 0,
) -> str:
    return json.dumps(
        {
            "type": "start",
            "id": "",
            "command": {
                "command": command,
                "args": list(args),
                "stdin": stdin,
                "tty": tty,
                "rows": rows,
                "cols": cols,
                "uid": uid,
                "gid": gid,
                "env": list(env),
                "working_dir": working_dir,
            },
        }
    )


@dataclass
class Outcome:
    """What one attempt got: a refused handshake, or a session's messages and close."""

    status: int | None = None  # HTTP status of a refused handshake
    reason: str = ""  # its body
    protocol: str | None = None  # the selected subprotocol
    stdout: bytes = b""
    errors: list[dict[str, Any]] = field(default_factory=list)
    exit: dict[str, Any] | None = None
    close_code: int | None = None
    close_reason: str = ""

    @property
    def refused(self) -> bool:
        return self.status is not None


async def handshake_refusal(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    protocols: Sequence[str] = (),
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[int, str]:
    """The status and body the server answers a WebSocket upgrade with, when it refuses."""
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    if protocols:
        upgrade["Sec-WebSocket-Protocol"] = ", ".join(protocols)
    http = url.replace("ws://", "http://").replace("wss://", "https://")
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            http,
            headers={**upgrade, **(headers or {})},
            params=params,
            ssl=ssl_context if ssl_context is not None else False,
        ) as resp,
    ):
        return resp.status, await resp.text()


async def attempt(
    url: str,
    start: str | bytes | None,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    protocols: Sequence[str] = (),
    ssl_context: ssl.SSLContext | bool | None = None,
    stdin: bytes | None = None,
) -> Outcome:
    """Connect, send ``start``, collect until exit (then close) or the server's close."""
    out = Outcome()
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(
                url,
                headers=headers,
                params=params,
                protocols=tuple(protocols),
                ssl=ssl_context if ssl_context is not None else True,
                autoclose=False,
                max_msg_size=0,
            )
        except aiohttp.WSServerHandshakeError as exc:
            out.status = exc.status
            if not (exc.status >= 500):
                try:
                    out.status, out.reason = await handshake_refusal(
                        url,
                        headers=headers,
                        params=params,
                        protocols=protocols,
                        ssl_context=ssl_context
                        if isinstance(ssl_context, ssl.SSLContext)
                        else None,
                    )
                except aiohttp.ClientError:
                    pass
            return out
        out.protocol = ws.protocol
        try:
            if start is not None:
                if isinstance(start, str):
                    await ws.send_str(start)
                else:
                    await ws.send_bytes(start)
            if stdin is not None:
                await ws.send_bytes(b'{"type":"stdin"}\n' + stdin)
                await ws.send_bytes(b'{"type":"close_stdin"}\n')
            await asyncio.wait_for(_collect(ws, out), TIMEOUT)
        finally:
            await ws.close()
    return out


async def _collect(ws: aiohttp.ClientWebSocketResponse, out: Outcome) -> None:
    stdout = bytearray()
    try:
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
                out.close_code = ws.close_code
                out.close_reason = msg.extra or ""
                return
            if msg.type == aiohttp.WSMsgType.CLOSED:
                out.close_code = ws.close_code
                return
            if msg.type == aiohttp.WSMsgType.ERROR:
                raise msg.data
            data: bytes = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
            head_raw, _, body = data.partition(b"\n")
            head = json.loads(head_raw)
            if head["type"] == "stdout":
                stdout += body
            elif head["type"] == "error":
                out.errors.append(head)
            elif head["type"] == "exit_code":
                out.exit = head
                await ws.close(code=1000, message=b"normal closure")
                out.close_code = ws.close_code
                return
    finally:
        out.stdout = bytes(stdout)


async def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` (cheap, in-process state) until true or fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


async def raw_http(
    port: int, head: str, *, source: str = "127.0.0.1", timeout: float = TIMEOUT
) -> tuple[int, str]:
    """Send ``head`` (CRLF-joined request lines) from ``source``; the status and response head."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), timeout
    )
    try:
        writer.write(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n\r\n")
        await writer.drain()
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    finally:
        writer.close()
    text = raw.decode("latin-1")
    return int(text.split(" ", 2)[1]), text


def upgrade_head(path: str, host: str, **headers: str) -> str:
    """A WebSocket upgrade request with ``Host: host`` and extra headers (``_`` for ``-``)."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return "\n".join(lines)


# Credentials and test data the security tests share.

JWT_SECRET = "s3cret-for-tests-only-" + "0123456789abcdef" * 4
TOKENS = {
    "alice": "alice-token-0123456789abcdef",
    "noroot": "noroot-token-0123456789abcdef",
    "limited": "limited-token-0123456789abcdef",
    "notty": "notty-token-0123456789abcdef",
    "recorded": "recorded-token-0123456789abcdef",
    "short": "short-token-0123456789abcdef",
    "small": "small-token-0123456789abcdef",
    "pathok": "pathok-token-0123456789abcdef",
}
PASSWORD = "correct horse battery staple"
#: Tests that switch users or bind low ports need root.
RUNNING_AS_ROOT = os.geteuid() == 0


def make_jwt(
    sub: str = "alice",
    *,
    ttl: float = 300,
    key: Any = JWT_SECRET,
    alg: str = "HS256",
    **claims: Any,
) -> str:
    now = int(time.time())
    body = {"sub": sub, "iat": now, "exp": now + ttl, **claims}
    return jwt.encode(body, key, algorithm=alg)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Layout:
    """Directories and links the attacks use."""

    tmp: Path
    work: Path  # the allowed working-directory root
    outside: Path
    evil: Path  # a directory of look-alike commands
    record_dir: Path
    policy: Path


@dataclass
class SecureServer:
    url: str
    execer: CountingExecer
    layout: Layout
    audit: Any = None
    policy: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


MakeSecure = Callable[..., Awaitable[SecureServer]]
