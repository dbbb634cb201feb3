"""Fixtures of the operations tests: real ``wsep-server`` processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.ops import Server, spawn_server


@pytest.fixture
def run_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: ``run_server(*args, env={...}, command=[...], pass_fds=(...), cwd=...,
    user=..., wait_healthy=True)`` -> a started Server (stopped after the test)."""
    started: list[Server] = []

    def factory(
        *args: str, cwd: Path | None = None, wait_healthy: bool = True, **options: Any
    ) -> Server:
        log = tmp_path / f"server-{len(started)}.log"
        srv = spawn_server(log, *args, cwd=cwd or tmp_path, **options)
        started.append(srv)
        srv.wait_started(healthy=wait_healthy)
        return srv

    yield factory
    for srv in started:
        srv.stop()
        if srv.proc.stdout is not None:
            srv.proc.stdout.close()
