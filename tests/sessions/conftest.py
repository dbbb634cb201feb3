"""Fixtures the session tests share: a server with its own session manager, and
WebSocket clients that are closed at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from support.sessions import ServerFactory
from support.wsclient import ClientPool
from wsep_server.local import LocalExecer
from wsep_server.sessions import SessionConfig, SessionManager


@pytest.fixture
async def server(
    no_leaked_children: None, make_server: Callable[..., Awaitable[str]]
) -> ServerFactory:
    """Starts servers whose sessions outlive a detach for 60 s (``timeout=`` to change);
    ``app=`` adds keyword arguments for ``create_app`` (a policy, middlewares)."""

    async def start(
        *, app: dict[str, object] | None = None, **config: object
    ) -> tuple[str, SessionManager]:
        config.setdefault("timeout", 60)
        manager = SessionManager(
            LocalExecer(grace_period=2.0, output_linger=0.5),
            SessionConfig(**config),  # type: ignore[arg-type]
        )
        url = await make_server(session_manager=manager, **(app or {}))
        return url, manager

    return start


@pytest.fixture
async def clients() -> AsyncIterator[ClientPool]:
    async with ClientPool() as pool:
        yield pool
