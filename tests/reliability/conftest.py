"""Fixtures of the reliability suite: in-process servers with runner options of their own.

``serve(**create_app_kwargs, runner_kwargs={...})`` is the shared
``make_server`` without access logs and with a deep listen backlog (many
clients connect at once here); ``runner_kwargs`` go to aiohttp's ``AppRunner``
(e.g. ``keepalive_timeout``, which bounds how long a request may take to
arrive). It returns the URL; servers are cleaned up after the test.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from support.reliability import Serve


@pytest.fixture
def serve(make_server: Callable[..., Awaitable[str]]) -> Serve:
    async def factory(*, runner_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> str:
        runner = {"access_log": None, **(runner_kwargs or {})}
        return await make_server(runner_kwargs=runner, backlog=1024, **kwargs)

    return factory
