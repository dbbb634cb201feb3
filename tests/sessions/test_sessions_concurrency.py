"""Concurrent starts at the SessionManager: the cap holds, and cancellation stays with
the task it was aimed at. Real tasks, real processes; an execer whose start waits at a
gate makes every start be in flight together, without timing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from support.sessions import py
from support.streams import read_until
from support.wsclient import ClientPool
from wsep_protocol import Command, Pid, PolicyViolation, Process, Start
from wsep_server import create_app
from wsep_server.auth import make_identity
from wsep_server.local import LocalExecer
from wsep_server.sessions import SessionConfig, SessionManager, SessionProcess

WAIT = 30


class GatedExecer:
    """A LocalExecer whose starts wait until the gate opens (and say when they wait)."""

    def __init__(self) -> None:
        self.inner = LocalExecer(grace_period=2.0, output_linger=0.5)
        self.gate = asyncio.Event()
        self.waiting = 0
        self.arrived = asyncio.Event()

    async def start(self, command: Command) -> Process:
        self.waiting += 1
        self.arrived.set()
        await self.gate.wait()
        return await self.inner.start(command)


SLEEPER = py("import time; time.sleep(60)")


@pytest.fixture
async def gated(no_leaked_children: None) -> AsyncIterator[tuple[GatedExecer, SessionManager]]:
    execer = GatedExecer()
    manager = SessionManager(execer, SessionConfig(timeout=60))
    yield execer, manager
    execer.gate.set()
    await asyncio.wait_for(manager.close(), WAIT)


async def _all_waiting(execer: GatedExecer, count: int) -> None:
    async def go() -> None:
        while execer.waiting < count:
            execer.arrived.clear()
            await execer.arrived.wait()

    await asyncio.wait_for(go(), WAIT)


async def _settled() -> None:
    """Let every ready task run to its next wait (they only wait on each other here)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def _start_and_join(
    execer: GatedExecer, manager: SessionManager, joiners: int, command: Command = SLEEPER
) -> tuple[asyncio.Task[SessionProcess], list[asyncio.Task[SessionProcess]]]:
    """One start of session "s" held at the gate, and ``joiners`` more that joined it."""
    starter = asyncio.create_task(manager.open("s", command))
    await _all_waiting(execer, 1)
    joined = [asyncio.create_task(manager.open("s", command)) for _ in range(joiners)]
    await _settled()
    assert execer.waiting == 1  # they joined the start in flight
    return starter, joined


async def test_cancelling_the_starter_does_not_cancel_who_joined_it(
    gated: tuple[GatedExecer, SessionManager],
) -> None:
    execer, manager = gated
    starter, joiners = await _start_and_join(execer, manager, 3)
    starter.cancel()
    execer.gate.set()
    done = await asyncio.wait_for(asyncio.gather(*joiners, return_exceptions=True), WAIT)
    assert starter.cancelled()
    assert not any(isinstance(d, BaseException) for d in done), done
    assert [j.cancelled() for j in joiners] == [False] * 3
    assert sum(d.created for d in done) == 1  # one of them started it, the others joined
    assert len({d.pid for d in done}) == 1
    assert len(manager) == 1
    for d in done:
        await d.close()


async def test_a_cancelled_joiner_keeps_its_own_cancellation(
    gated: tuple[GatedExecer, SessionManager],
) -> None:
    execer, manager = gated
    starter, (joiner, other) = await _start_and_join(execer, manager, 2)
    joiner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await joiner
    execer.gate.set()
    first, second = await asyncio.wait_for(asyncio.gather(starter, other), WAIT)
    assert first.created
    assert not second.created
    assert first.pid == second.pid
    await first.close()
    await second.close()


async def test_a_failed_start_fails_who_joined_it_with_the_same_error(
    gated: tuple[GatedExecer, SessionManager],
) -> None:
    execer, manager = gated
    missing = Command("/nonexistent/program", tty=True)
    starter, (joiner,) = await _start_and_join(execer, manager, 1, missing)
    execer.gate.set()
    outcomes = await asyncio.wait_for(asyncio.gather(starter, joiner, return_exceptions=True), WAIT)
    assert all(isinstance(o, Exception) for o in outcomes), outcomes
    assert type(outcomes[0]) is type(outcomes[1])
    assert len(manager) == 0


@pytest.mark.parametrize("tries", range(3))
@pytest.mark.parametrize(("creates", "cap"), [(2, 1), (5, 2), (9, 3), (12, 12)])
async def test_concurrent_creates_against_a_cap_start_exactly_the_cap(
    gated: tuple[GatedExecer, SessionManager], creates: int, cap: int, tries: int
) -> None:
    execer, _ = gated
    manager = SessionManager(execer, SessionConfig(timeout=60, max_sessions=cap))
    try:
        tasks = [
            asyncio.create_task(
                manager.open(f"s{i}", SLEEPER, identity=make_identity(f"user{i}", auth="token"))
            )
            for i in range(creates)
        ]
        await _all_waiting(execer, min(creates, cap))
        await _settled()  # every create has passed (or failed) its check by now
        assert execer.waiting == min(creates, cap)
        execer.gate.set()
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT)
        opened = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, PolicyViolation)]
        assert len(opened) == cap, outcomes
        assert len(refused) == creates - cap
        assert len(manager) == cap
        for o in opened:
            await o.close()
    finally:
        await asyncio.wait_for(manager.close(), WAIT)


@pytest.mark.parametrize("tries", range(2))
@pytest.mark.parametrize(("creates", "cap"), [(3, 1), (6, 2), (8, 4)])
async def test_concurrent_starts_over_the_wire_against_a_cap_start_exactly_the_cap(
    no_leaked_children: None,
    make_server: Callable[..., Awaitable[str]],
    clients: ClientPool,
    creates: int,
    cap: int,
    tries: int,
) -> None:
    """Every start is on the server at once (held at the execer's gate): the cap is
    decided by one counter, so exactly ``cap`` sessions start and the rest are refused
    with 1008 before anything is spawned."""
    execer = GatedExecer()
    manager = SessionManager(
        execer, SessionConfig(timeout=60, max_sessions=cap, max_sessions_per_identity=creates)
    )
    url = await make_server(app_factory=create_app, session_manager=manager)
    try:
        conns = [await clients.connect(url) for _ in range(creates)]
        for i, conn in enumerate(conns):
            await conn.send(Start(SLEEPER, id=f"s{i}"))
        answers = {asyncio.create_task(conn.recv()): conn for conn in conns}
        pending = set(answers)
        # the refusals come while the admitted starts wait at the gate
        while len(pending) > cap:
            _, pending = await asyncio.wait(pending, timeout=WAIT, return_when="FIRST_COMPLETED")
        await _all_waiting(execer, cap)
        refused = [t.result() for t in answers if t not in pending]
        assert [getattr(r, "data", r) for r in refused] == [1008] * (creates - cap), refused
        assert execer.waiting == cap
        assert len(manager) == 0  # nothing spawned yet
        execer.gate.set()
        admitted = await asyncio.wait_for(asyncio.gather(*pending), WAIT)
        assert all(isinstance(a, Pid) for a in admitted), admitted
        assert len({a.pid for a in admitted}) == cap
        assert len(manager) == cap
    finally:
        execer.gate.set()
        await asyncio.wait_for(manager.close(), WAIT)


async def test_a_background_redraw_is_cancelled_when_its_client_detaches(
    no_leaked_children: None,
) -> None:
    """A client that fell behind gets its redraw from a background task: owned by the
    client and cancelled when it detaches, never left waiting or running for nobody."""
    manager = SessionManager(
        LocalExecer(grace_period=2.0, output_linger=0.5), SessionConfig(timeout=60)
    )
    try:
        client = await manager.open("s", py("print('up', flush=True); import time; time.sleep(60)"))
        await read_until(client.stdout, b"up")
        session = manager.get(None, "s")
        before = asyncio.all_tasks()
        async with session._terminal_lock:  # the redraw waits here for its turn
            client._resynchronise()
            [redraw] = asyncio.all_tasks() - before
            await asyncio.sleep(0)
            assert not redraw.done()
            await asyncio.wait_for(client.close(), WAIT)
            assert redraw.done()  # cancelled by the detach, not waiting for the lock
        assert redraw.cancelled()
    finally:
        await asyncio.wait_for(manager.close(), WAIT)
