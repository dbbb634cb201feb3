"""Fixtures for the client tests: real wsep servers on 127.0.0.1, a cuttable TCP proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from support.client import Proxy
from support.wire import port_of


@pytest.fixture
async def url(make_server) -> str:
    """A default (v1 + v2) server."""
    return await make_server()


@pytest.fixture
async def v1_url(make_server) -> str:
    """A server that speaks only v1, the Go original's protocol."""
    from wsep_protocol import ProtocolVersion

    return await make_server(versions=(ProtocolVersion.V1,))


@pytest.fixture
async def proxy(url: str) -> AsyncIterator[Proxy]:
    port = port_of(url)
    p = Proxy(port)
    await p.start()
    yield p
    await p.close()
