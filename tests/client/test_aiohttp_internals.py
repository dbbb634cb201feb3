"""The one use of aiohttp internals, pinned to the aiohttp versions it was checked against."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from wsep_client._aiohttp_internals import CHECKED_AIOHTTP, connection_lost_future

TIMEOUT = 30.0


def _version() -> tuple[int, int]:
    major, minor = aiohttp.__version__.split(".")[:2]
    return int(major), int(minor)


def test_installed_aiohttp_is_one_the_internals_were_checked_against() -> None:
    low, high = CHECKED_AIOHTTP
    assert low <= _version() < high, (
        f"aiohttp {aiohttp.__version__}: check wsep_client._aiohttp_internals again "
        "and widen CHECKED_AIOHTTP"
    )


@pytest.fixture
async def dropping_server() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A WebSocket server that drops the TCP connection (no close frame) when told to."""
    drop = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await drop.wait()
        assert request.transport is not None
        request.transport.abort()
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"ws://127.0.0.1:{runner.addresses[0][1]}/", drop
    drop.set()
    await runner.cleanup()


async def test_connection_lost_future_resolves_when_the_connection_drops(
    dropping_server: tuple[str, asyncio.Event],
) -> None:
    url, drop = dropping_server
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        lost = connection_lost_future(ws)
        assert isinstance(lost, asyncio.Future)
        assert not lost.done()
        drop.set()  # the client does not read: only the future can tell
        await asyncio.wait([lost], timeout=TIMEOUT)
        assert lost.done()
