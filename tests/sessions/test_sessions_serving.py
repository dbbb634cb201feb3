"""The one interface the connection handler serves sessions through, on and off.

The same handler class serves both servers below; only the session service it
holds differs (``ManagedSessions`` or ``NoSessions``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from support.sessions import ServerFactory
from support.wsclient import ClientPool
from wsep_protocol import Command, Error, ExitCode, Pid, Start
from wsep_protocol.sessions import Attach, Attached, ListSessions, SessionList
from wsep_server import create_app
from wsep_server.hooks import ConnectionRecord
from wsep_server.local import LocalExecer
from wsep_server.sessions import SessionManager
from wsep_server.sessions.serving import ManagedSessions, NoSessions, session_service

MakeServer = Callable[..., Awaitable[str]]


async def _server(make_server: MakeServer, *, enabled: bool) -> str:
    execer = LocalExecer(grace_period=2.0, output_linger=0.5)
    if enabled:
        return await make_server(
            app_factory=create_app, execer=execer, session_manager=SessionManager(execer)
        )
    return await make_server(app_factory=create_app, execer=execer, reattachable_sessions=False)


def test_the_service_is_chosen_once_per_connection() -> None:
    manager = SessionManager(LocalExecer())
    assert isinstance(session_service(manager, identity=None, peer=""), ManagedSessions)
    assert isinstance(session_service(None, identity=None, peer=""), NoSessions)


@pytest.mark.parametrize("enabled", [True, False], ids=["sessions-on", "sessions-off"])
async def test_a_named_tty_start_through_the_same_handler(
    no_leaked_children: None, make_server: MakeServer, clients: ClientPool, enabled: bool
) -> None:
    """On: the start opens a session (announced, listed while running). Off: the same
    start is an ordinary process; the output and exit code are the same."""
    url = await _server(make_server, enabled=enabled)
    c = await clients.connect(url, v2=True)
    await c.send(Start(Command("sh", ("-c", "read x; echo got-$x"), tty=True), id="named"))
    assert isinstance(await c.recv(), Pid)
    if enabled:
        assert isinstance(await c.recv(), Attached)
    lister = await clients.connect(url, v2=True)
    await lister.send(ListSessions())
    listed = await lister.recv()
    if enabled:
        assert isinstance(listed, SessionList)
        assert [d.id for d in listed.sessions] == ["named"]
    else:
        assert isinstance(listed, Error)
        assert listed.code == "policy_violation"
        assert "sessions are off" in listed.message
    await c.type("yes\n")
    exit_code = await c.until(ExitCode)
    assert exit_code.exit_code == 0
    assert b"got-yes" in c.stdout


async def test_attach_is_refused_when_sessions_are_off(
    no_leaked_children: None, make_server: MakeServer, clients: ClientPool
) -> None:
    url = await _server(make_server, enabled=False)
    c = await clients.connect(url, v2=True)
    await c.send(Attach(id="anything", command=Command("sh", tty=True)))
    error = await c.recv()
    assert isinstance(error, Error)
    assert error.code == "policy_violation"
    closed = await c.closed()
    assert closed.type is aiohttp.WSMsgType.CLOSE
    assert closed.data == 1008


async def test_a_detach_from_a_running_session_is_not_logged_as_a_failure(
    server: ServerFactory, clients: ClientPool, caplog: pytest.LogCaptureFixture
) -> None:
    """The connection ends, the session lives on: there is no exit to wait for."""
    ended: asyncio.Queue[ConnectionRecord] = asyncio.Queue()

    class Ends:
        def on_start(self, record: ConnectionRecord) -> None:
            pass

        def on_end(self, record: ConnectionRecord) -> None:
            ended.put_nowait(record)

    url, manager = await server(app={"observers": [Ends()]})
    command = Command("sh", ("-c", "echo ready; exec cat"), tty=True)
    client = await clients.start(url, Start(command, id="lives-on"))
    await client.until_output(b"ready")
    with caplog.at_level(logging.WARNING, logger="wsep_server"):
        await client.drop()
        await asyncio.wait_for(ended.get(), 30)  # the connection's cleanup is over
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    session = manager.find(None, "lives-on")
    assert session is not None
    assert not session.exited.is_set()
    session.end("test over")
    await asyncio.wait_for(session.ended.wait(), 30)
