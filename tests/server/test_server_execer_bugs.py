"""An execer's bug is a bug, not a closed terminal: it is logged with its traceback,
its connection closes with 1011, and the server goes on serving the others."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from support import TIMEOUT
from support.wire import header, start_bytes
from wsep_protocol import Command, Process, Resize, encode
from wsep_server.local import LocalExecer


class _BuggyResize:
    """A local process whose resize has a programming error."""

    def __init__(self, inner: Process) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def resize(self, rows: int, cols: int) -> None:
        raise AttributeError("'NoneType' object has no attribute 'winsize' (an execer bug)")


class BuggyExecer:
    def __init__(self) -> None:
        self.inner = LocalExecer(grace_period=2.0, output_linger=0.5)

    async def start(self, command: Command) -> Process:
        process = await self.inner.start(command)
        return _BuggyResize(process) if command.command == "cat" else process  # type: ignore[return-value]


async def test_an_execer_bug_is_logged_and_closes_with_1011(
    no_leaked_children: None,
    make_server: Callable[..., Awaitable[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = await make_server(execer=BuggyExecer())
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url)
        await ws.send_bytes(start_bytes("cat", stdin=True, tty=True))
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert header(msg.data)["type"] == "pid"
        with caplog.at_level(logging.ERROR, logger="wsep_server"):
            await ws.send_bytes(encode(Resize(rows=30, cols=100)))
            while not ws.closed:
                msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert ws.close_code == 1011
        failures = [r for r in caplog.records if r.exc_info is not None]
        assert len(failures) == 1, caplog.records
        assert "an execer bug" in str(failures[0].exc_info[1])  # type: ignore[index]
        # the others are served as before
        other = await http.ws_connect(url)
        await other.send_bytes(start_bytes("echo", "still here"))
        out = b""
        while True:
            msg = await asyncio.wait_for(other.receive(), TIMEOUT)
            if msg.type is not aiohttp.WSMsgType.BINARY:
                break
            head = header(msg.data)
            if head["type"] == "stdout":
                out += msg.data.partition(b"\n")[2]
            if head["type"] == "exit_code":
                assert head.get("exitCode", 0) == 0, head
                break
        assert out == b"still here\n"
        await other.close()
