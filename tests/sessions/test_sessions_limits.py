"""A policy's run-time limits bind a reattachable session, not just one connection.

Detaching must not leave a limited command running for the next attach, nor
start its clock over; an observer's limit ends only the observer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from support.proc import wait_until_gone
from support.sessions import ServerFactory, script
from support.wsclient import ClientPool, WsClient
from wsep_protocol import Command, Error, ExitCode, Pid, Start
from wsep_protocol.sessions import Attach
from wsep_server import RunLimits, StartDecision, StartRequest
from wsep_server.sessions import Session, SessionManager

#: Long enough that only a limit can end a detached session in these tests.
IDLE_TIMEOUT = 120.0

#: The ``server`` fixture here: ``url, manager = await server(*limits)``.
LimitedServer = Callable[..., Awaitable[tuple[str, SessionManager]]]


class Policy:
    """Hands out ``limits`` in order, one per start; the last one repeats."""

    def __init__(self, *limits: RunLimits) -> None:
        self.limits = list(limits)

    async def decide(self, request: StartRequest) -> StartDecision:
        limits = self.limits.pop(0) if len(self.limits) > 1 else self.limits[0]
        return StartDecision.allow(limits=limits)


@pytest.fixture
def server(server: ServerFactory) -> LimitedServer:
    """A server whose policy hands out ``limits`` in order."""

    async def start(*limits: RunLimits) -> tuple[str, SessionManager]:
        return await server(timeout=IDLE_TIMEOUT, app={"policy": Policy(*limits)})

    return start


def echo(session_id: str = "s") -> Start:
    return Start(script("echo_size.py"), id=session_id)


async def started(client: WsClient, manager: SessionManager) -> tuple[int, Session]:
    """The pid, and the session looked up at once (a limit may end it any time after)."""
    pid = await client.recv()
    assert isinstance(pid, Pid)
    session = manager.get(None, "s")
    await client.until_output(b"started")
    return pid.pid, session


@pytest.mark.parametrize("v2", [False, True], ids=["v1", "v2"])
async def test_duration_limit_ends_the_session_not_only_the_connection(
    server: LimitedServer, clients: ClientPool, v2: bool
) -> None:
    url, manager = await server(RunLimits(max_duration=0.5))
    c = await clients.start(url, echo(), v2=v2)
    pid, session = await started(c, manager)
    assert isinstance(await c.until(ExitCode), ExitCode)
    if v2:
        errors = [m for m in c.messages if isinstance(m, Error)]
        assert [e.code for e in errors] == ["limit_exceeded"]
    closed = await c.closed()
    assert closed.data == 1008
    assert "duration" in (closed.extra or "")
    await asyncio.wait_for(session.ended.wait(), 30)
    assert session.end_reason.startswith("limit: maximum duration")
    assert await wait_until_gone(pid) == []
    assert len(manager) == 0


async def test_duration_limit_ends_a_detached_session(
    server: LimitedServer, clients: ClientPool
) -> None:
    url, manager = await server(RunLimits(max_duration=0.5))
    c = await clients.start(url, echo())
    pid, session = await started(c, manager)
    await c.drop()  # nobody attached; the idle timeout is far away
    await asyncio.wait_for(session.ended.wait(), 30)
    assert session.end_reason.startswith("limit: maximum duration")
    assert await wait_until_gone(pid) == []


async def test_reattaching_does_not_restart_the_clock(
    server: LimitedServer, clients: ClientPool
) -> None:
    url, manager = await server(RunLimits(max_duration=4.0))
    a = await clients.start(url, echo(), v2=True)
    pid, session = await started(a, manager)
    deadline = session.limit_deadline
    assert deadline is not None
    await a.drop()
    b = await clients.start(url, echo(), v2=True)
    assert (await started(b, manager))[0] == pid  # the same session ...
    assert session.limit_deadline == deadline  # ... on the same clock
    assert isinstance(await b.until(ExitCode), ExitCode)
    assert [m.code for m in b.messages if isinstance(m, Error)] == ["limit_exceeded"]
    assert (await b.closed()).data == 1008
    assert await wait_until_gone(pid) == []


async def test_output_limit_ends_the_session(server: LimitedServer, clients: ClientPool) -> None:
    url, manager = await server(RunLimits(max_output_bytes=50_000))
    c = await clients.start(
        url, Start(Command("sh", ("-c", "read x; exec yes"), tty=True), id="flood"), v2=True
    )
    pid = (await c.recv()).pid
    session = manager.get(None, "flood")  # looked up before the flood can end it
    await c.type("go\n")
    assert isinstance(await c.until(ExitCode), ExitCode)
    assert [m.code for m in c.messages if isinstance(m, Error)] == ["limit_exceeded"]
    assert (await c.closed()).data == 1008
    await asyncio.wait_for(session.ended.wait(), 30)
    assert session.end_reason.startswith("limit: output limit")
    assert await wait_until_gone(pid) == []


async def test_an_observers_limit_ends_only_the_observer(
    server: LimitedServer, clients: ClientPool
) -> None:
    url, manager = await server(RunLimits(), RunLimits(max_duration=0.3))
    owner = await clients.start(url, echo(), v2=True)
    await started(owner, manager)
    observer = await clients.start(url, Attach("s", read_only=True), v2=True)
    assert [e.code for e in [await observer.until(Error)]] == ["limit_exceeded"]
    assert (await observer.closed()).data == 1008
    await owner.type("still-here\n")
    await owner.until_output(b"echo:still-here")
    assert manager.get(None, "s").running
    await owner.type("exit\n")
    assert (await owner.until(ExitCode)).exit_code == 7
