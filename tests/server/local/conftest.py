"""Fixtures for tests that drive ``LocalExecer`` directly (no WebSocket)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.proc import zombies_of
from wsep_server.local import LocalExecer


@pytest.fixture
def execer() -> LocalExecer:
    return LocalExecer(grace_period=2.0, output_linger=0.5)


@pytest.fixture(autouse=True)
def _no_zombies() -> Iterator[None]:
    yield
    assert zombies_of() == []
