"""Fixtures of the reliability suite: in-process servers with runner options of their own.

``serve(**create_app_kwargs, runner_kwargs={...})`` is like the shared
``make_server`` fixture but also passes options to aiohttp's ``AppRunner``
(e.g. ``keepalive_timeout``, which bounds how long a request may take to
arrive), and returns the URL. Servers are cleaned up after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.reliability import Serve


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    from aiohttp import web
    from wsep_server import create_app
    from wsep_server.local import LocalExecer

    runners: list[web.AppRunner] = []

    async def factory(**kwargs: Any) -> str:
        runner_kwargs = kwargs.pop("runner_kwargs", {})
        kwargs.setdefault("log_sessions", False)
        if "execer" not in kwargs:
            kwargs["execer"] = LocalExecer(grace_period=2.0, output_linger=0.5)
        app = create_app(**kwargs)
        runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=10.0, access_log=None, **runner_kwargs
        )
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        return f"ws://127.0.0.1:{port}{kwargs.get('path', '/')}"

    yield factory
    for runner in reversed(runners):
        await runner.cleanup()
