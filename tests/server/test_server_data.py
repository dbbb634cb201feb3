"""The data path: large transfers hash-checked, and backpressure instead of buffering.

16 MB by default; ``WSEP_FULL=1`` moves 100 MB.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import aiohttp
import pytest
from support.proc import wait_until_gone
from support.wire import header, start_bytes
from wsep_protocol import SUBPROTOCOL_V2

SIZE = 100_000_000 if os.environ.get("WSEP_FULL") == "1" else 16_000_000
pytestmark = pytest.mark.slow


def _pattern(size: int) -> bytes:
    seed = hashlib.sha256(b"wsep").digest() * 2048  # 64 KiB, not compressible by accident
    return (seed * (size // len(seed) + 1))[:size]


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_stdout_hash_checked(wsep_server: str, version: str) -> None:
    protocols = (SUBPROTOCOL_V2,) if version == "v2" else ()
    # The child writes a deterministic stream; we hash what arrives.
    script = f"head -c {SIZE} /dev/zero | tr '\\0' 'w'; echo; echo tail"
    expected = hashlib.sha256(b"w" * SIZE + b"\ntail\n").hexdigest()
    digest = hashlib.sha256()
    got = 0
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(wsep_server, protocols=protocols, max_msg_size=0) as ws,
    ):
        await ws.send_bytes(start_bytes("sh", "-c", script))
        limit = 64_000 if version == "v1" else 1 << 21
        while True:
            msg = await asyncio.wait_for(ws.receive(), 60)
            assert msg.type is aiohttp.WSMsgType.BINARY, msg
            data: bytes = msg.data
            assert len(data) <= limit
            kind = header(data)["type"]
            if kind == "stdout":
                body = memoryview(data)[18:]
                digest.update(body)
                got += len(body)
            elif kind == "exit_code":
                assert header(data)["exit_code"] == 0
                break
    assert got == SIZE + 6
    assert digest.hexdigest() == expected


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_stdin_hash_checked(wsep_server: str, version: str) -> None:
    protocols = (SUBPROTOCOL_V2,) if version == "v2" else ()
    data = _pattern(SIZE)
    chunk = 63_983 if version == "v1" else 1 << 20
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(wsep_server, protocols=protocols) as ws,
    ):
        await ws.send_bytes(start_bytes("sha256sum", stdin=True))
        view = memoryview(data)
        for i in range(0, SIZE, chunk):
            await ws.send_bytes(b'{"type":"stdin"}\n' + view[i : i + chunk])
        await ws.send_bytes(b'{"type":"close_stdin"}\n')
        out = b""
        while True:
            msg = await asyncio.wait_for(ws.receive(), 60)
            assert msg.type is aiohttp.WSMsgType.BINARY, msg
            kind = header(msg.data)["type"]
            if kind == "stdout":
                out += msg.data[18:]
            elif kind == "exit_code":
                break
    assert out.split()[0].decode() == hashlib.sha256(data).hexdigest()


def _wchar(pid: int) -> int:
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    raise AssertionError("no wchar")


async def test_backpressure_blocks_child(wsep_server: str) -> None:
    """A client that stops reading makes the child block, bounded by buffers."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(wsep_server, protocols=(SUBPROTOCOL_V2,)) as ws,
    ):
        await ws.send_bytes(start_bytes("cat", "/dev/zero"))
        msg = await ws.receive()
        pid = int(header(msg.data)["pid"])  # type: ignore[call-overload]
        # Stop reading. The child keeps writing until every buffer on the way is full,
        # then blocks: its write counter stops growing.
        deadline = time.monotonic() + 30
        last, stable = -1, 0
        while stable < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            now = _wchar(pid)
            stable = stable + 1 if now == last else 0
            last = now
        assert stable >= 5, "the child never blocked"
        # Pipe (1 MiB) + our one message in flight + socket buffers: far below this.
        assert last < 64 * 1024 * 1024
    assert await wait_until_gone(pid) == []
