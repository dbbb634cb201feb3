"""Fixtures for fleet runs: several real wsep servers on 127.0.0.1, and a port nobody serves."""

from __future__ import annotations

import socket

import pytest
from support.fleet import TOKEN


@pytest.fixture
async def fleet_urls(make_server) -> list[str]:
    """Three default servers (v1 + v2), distinct ports."""
    return [await make_server() for _ in range(3)]


@pytest.fixture
async def auth_url(make_server) -> str:
    """A server that wants the bearer token ``TOKEN``."""
    from wsep_server.auth import StaticTokenAuthenticator, security_middlewares

    auth = StaticTokenAuthenticator(plain=[("fleet", TOKEN)])
    return await make_server(middlewares=security_middlewares([auth]))


@pytest.fixture
def down_url() -> str:
    """A loopback URL whose port was just free: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"ws://127.0.0.1:{port}/"
