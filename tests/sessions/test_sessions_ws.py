"""Sessions over real WebSocket connections to a real server (v1 Go scenarios and v2)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
from pathlib import Path

import aiohttp
import pytest
from support import scaled
from support.sessions import PY, ServerFactory, script
from support.wsclient import ClientPool
from wsep_protocol import Command, Error, ExitCode, Pid, Start
from wsep_protocol.sessions import (
    Attach,
    Attached,
    EndSession,
    GetSession,
    ListSessions,
    SessionDetails,
    SessionEnded,
    SessionList,
)
from wsep_server.auth import StaticTokenAuthenticator, auth_middleware

TIMEOUT = 0.5
ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789ab"


@pytest.fixture
def server(server: ServerFactory) -> ServerFactory:
    """Sessions here outlive a detach for ``TIMEOUT`` only; alice and bob have tokens."""
    auth = StaticTokenAuthenticator(plain=[("alice", ALICE), ("bob", BOB)])
    middlewares = [auth_middleware([auth], allow_anonymous=True)]
    return functools.partial(server, timeout=TIMEOUT, app={"middlewares": middlewares})


def echo(session_id: str = "s", rows: int = 0, cols: int = 0) -> Start:
    return Start(script("echo_size.py", rows=rows, cols=cols), id=session_id)


# --- the Go original's scenarios, over v1 ------------------------------------------


async def test_v1_no_size_given(server: ServerFactory, clients: ClientPool) -> None:
    url, _ = await server()
    c = await clients.start(url, Start(Command("stty", ("size",), tty=True), id="nosize"))
    assert isinstance(await c.recv(), Pid)
    status = await c.until(ExitCode)
    assert status.exit_code == 0
    assert b"24 80" in c.stdout


async def test_v1_reattach_after_disconnect(server: ServerFactory, clients: ClientPool) -> None:
    url, manager = await server()
    a = await clients.start(url, echo())
    pid = (await a.recv()).pid
    await a.until_output(b"started")
    await a.type("first\n")
    await a.until_output(b"echo:first")
    await a.drop()
    session = manager.get(None, "s")
    b = await clients.start(url, echo())
    assert (await b.recv()).pid == pid  # v1: no `attached`, just the same process
    await b.until_output(b"echo:first")  # the screen as it was
    await b.type("second\n")
    await b.until_output(b"echo:second")
    await b.type("exit\n")
    assert (await b.until(ExitCode)).exit_code == 7
    await asyncio.wait_for(session.ended.wait(), 30)


async def test_v1_second_connection_keeps_the_session_alive(
    server: ServerFactory, clients: ClientPool
) -> None:
    url, manager = await server()
    a, b = await clients.connect(url), await clients.connect(url)
    await a.send(echo())
    await a.until_output(b"started")
    await b.send(echo())
    await b.until_output(b"started")
    await a.close()
    session = manager.get(None, "s")
    with pytest.raises(asyncio.TimeoutError):  # well past the timeout: still alive
        await asyncio.wait_for(asyncio.shield(session.ended.wait()), TIMEOUT * 3)
    await b.type("alive\n")
    await b.until_output(b"echo:alive")


async def test_v1_after_the_timeout_a_new_session_has_no_old_output(
    server: ServerFactory, clients: ClientPool
) -> None:
    url, manager = await server()
    a = await clients.start(url, echo())
    old_pid = (await a.recv()).pid
    await a.until_output(b"started")
    await a.type("OLD-OUTPUT\n")
    await a.until_output(b"echo:OLD-OUTPUT")
    session = manager.get(None, "s")
    await a.close()
    await asyncio.wait_for(session.ended.wait(), 30)
    b = await clients.start(url, echo())
    assert (await b.recv()).pid != old_pid
    out = await b.until_output(b"started")
    assert b"OLD-OUTPUT" not in out


async def test_v1_two_clients_share_output_input_and_exit(
    server: ServerFactory, clients: ClientPool
) -> None:
    url, _ = await server()
    a, b = await clients.connect(url), await clients.connect(url)
    await a.send(echo(rows=40, cols=100))
    await a.until_output(b"started")
    await b.send(echo(rows=30, cols=120))
    await b.until_output(b"started")
    await a.type("from-a\n")
    await b.until_output(b"echo:from-a size:30x100")
    await b.type("exit\n")
    for c in (a, b):
        assert (await c.until(ExitCode)).exit_code == 7


async def test_v1_full_screen_program_reattached(
    server: ServerFactory, clients: ClientPool
) -> None:
    url, _ = await server()
    a = await clients.start(url, Start(script("fullscreen.py", rows=24, cols=80), id="fs"))
    first = await a.until_output(b"ready>")
    assert b"\x1b[6n" in first
    await a.drop()
    b = await clients.start(url, Start(script("fullscreen.py", rows=24, cols=80), id="fs"))
    redraw = await b.until_output(b"ready>")
    assert b"\x1b[?1049h" in redraw
    assert b"FULL SCREEN TITLE" in redraw
    assert b"\x1b[c" not in redraw
    assert b"\x1b[6n" not in redraw
    await b.type("quit\n")
    assert (await b.until(ExitCode)).exit_code == 0


async def test_v1_without_id_every_start_is_new(server: ServerFactory, clients: ClientPool) -> None:
    url, manager = await server()
    a = await clients.start(url, Start(script("echo_size.py")))
    await a.until_output(b"started")
    assert len(manager) == 0
    await a.close()


# --- v2 --------------------------------------------------------------------------


async def test_v2_attached_and_observer(server: ServerFactory, clients: ClientPool) -> None:
    url, _ = await server()
    owner = await clients.start(url, echo(), v2=True)
    await owner.recv()
    attached = await owner.recv()
    assert attached == Attached("s", created=True, tty=True)
    await owner.until_output(b"started")
    observer = await clients.start(url, Attach("s", read_only=True, rows=5, cols=5), v2=True)
    await observer.recv()
    assert await observer.recv() == Attached("s", created=False, tty=True, read_only=True)
    await owner.type("shared\n")
    await observer.until_output(b"echo:shared size:24x80")  # the observer's size does not count
    # The observer cannot type: refused by its own side...
    with pytest.raises(Exception, match="read-only"):
        await observer.type("sneaky\n")
    # ... and by the server, for a client that sends it anyway.
    await observer.ws.send_bytes(b'{"type":"stdin"}\nsneaky\n')
    error = await observer.until(Error)
    assert error.code == "protocol_violation"
    assert error.close_code == 1008
    assert (await observer.closed()).data == 1008
    await owner.type("after\n")
    out = await owner.until_output(b"echo:after")
    assert b"sneaky" not in out


async def test_v2_observer_cannot_create(server: ServerFactory, clients: ClientPool) -> None:
    url, manager = await server()
    c = await clients.start(url, Attach("nope", script("echo_size.py"), read_only=True), v2=True)
    error = await c.until(Error)
    assert error.code == "no_such_session"
    assert (await c.closed()).data == 1008
    assert len(manager) == 0


async def test_v2_another_identity_cannot_attach(
    server: ServerFactory, clients: ClientPool
) -> None:
    url, _ = await server()
    alice = await clients.start(url, echo("private"), v2=True, token=ALICE)
    alice_pid = (await alice.recv()).pid
    await alice.until_output(b"started")
    for token in (BOB, None):
        other = await clients.start(url, Attach("private"), v2=True, token=token)
        assert (await other.until(Error)).code == "no_such_session"
        assert (await other.closed()).data == 1008
    # Bob's start with the same id is a session of his own.
    bob = await clients.start(url, echo("private"), v2=True, token=BOB)
    assert (await bob.recv()).pid != alice_pid
    assert (await bob.recv()).created


async def test_v2_list_inspect_end(server: ServerFactory, clients: ClientPool) -> None:
    url, _ = await server()
    a = await clients.start(url, echo("one", rows=30, cols=90), v2=True)
    pid = (await a.recv()).pid
    await a.until_output(b"started")
    admin = await clients.start(url, ListSessions(), v2=True)
    listing = await admin.recv()
    assert isinstance(listing, SessionList)
    assert [s.id for s in listing.sessions] == ["one"]
    await admin.send(GetSession("one"))
    details = await admin.recv()
    assert isinstance(details, SessionDetails)
    info = details.session
    assert (info.pid, info.tty, info.state, info.rows, info.cols) == (pid, True, "running", 30, 90)
    assert info.argv[-1].endswith("echo_size.py")
    assert len(info.clients) == 1
    await admin.send(EndSession("one"))
    assert await admin.recv() == SessionEnded("one")
    status = await a.until(ExitCode)  # the attached client gets the exit
    assert status.signal == "SIGHUP" or status.exit_code != 0
    await admin.send(ListSessions())
    assert await admin.recv() == SessionList(())
    await admin.send(GetSession("one"))
    assert (await admin.until(Error)).code == "no_such_session"


async def _release(fifo: Path) -> None:
    def write() -> None:
        with open(fifo, "w") as f:
            f.write("go\n")

    await asyncio.wait_for(asyncio.to_thread(write), 30)


async def test_v2_resumable_job_survives_a_dropped_connection(
    server: ServerFactory, clients: ClientPool, tmp_path: Path
) -> None:
    total = scaled(8_000_000, 50_000_000)
    url, _ = await server(ring_bytes=total // 2 + (1 << 20), timeout=30)
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    writer = Path(__file__).parent / "scripts" / "gated_writer.py"
    job = Command(PY, ("-u", str(writer), str(total), str(total // 2), str(fifo)))
    a = await clients.start(url, Attach("job", job, resumable=True), v2=True)
    await a.recv()
    assert await a.recv() == Attached("job", created=True, tty=False, resumable=True)
    while len(a.stdout) < total // 4 or not a.stderr:
        await a.recv()
    await a.drop()  # in the middle: no close frame
    have_out, have_err = bytes(a.stdout), bytes(a.stderr)

    b = await clients.start(
        url, Attach("job", stdout_offset=len(have_out), stderr_offset=len(have_err)), v2=True
    )
    await b.recv()
    attached = await b.recv()
    assert isinstance(attached, Attached)
    assert not attached.created
    assert (attached.stdout_offset, attached.stderr_offset) == (len(have_out), len(have_err))
    await _release(fifo)
    status = await b.until(ExitCode, timeout=120)
    assert status.exit_code == 3
    got = have_out + bytes(b.stdout)
    block = b"".join(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(32768))
    want = (block * (total // len(block) + 1))[:total]
    assert len(got) == total
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(want).hexdigest()
    assert have_err + bytes(b.stderr) == b"stderr-begin\nstderr-end\n"
    assert not [m for m in b.messages if type(m).__name__ == "Gap"]


async def test_v1_peer_never_sees_v2_messages(server: ServerFactory, clients: ClientPool) -> None:
    url, _ = await server()
    c = await clients.connect(url)
    await c.ws.send_bytes(b'{"type":"list_sessions"}')  # unknown to v1: ignored
    await c.send(echo())
    assert isinstance(await c.recv(), Pid)
    await c.until_output(b"started")
    assert not any(isinstance(m, (Attached, SessionList)) for m in c.messages)
    assert isinstance(c.ws, aiohttp.ClientWebSocketResponse)


async def test_v2_evicted_output_is_announced_as_a_gap(
    server: ServerFactory, clients: ClientPool
) -> None:
    url, manager = await server(ring_bytes=50_000, timeout=30)
    code = "import sys; sys.stdout.write('a' * 400_000 + 'b' * 40_000); sys.stdout.flush()"
    a = await clients.start(url, Attach("job", Command(PY, ("-c", code)), resumable=True), v2=True)
    await a.recv()
    await a.recv()
    await a.drop()
    session = manager.get(None, "job")
    await asyncio.wait_for(session.exited.wait(), 30)
    b = await clients.start(url, Attach("job", stdout_offset=0, stderr_offset=0), v2=True)
    await b.recv()
    attached = await b.recv()
    assert attached.stdout_offset == 440_000 - 50_000
    gap = await b.recv()
    assert (gap.stream, gap.offset, gap.length) == ("stdout", 0, 390_000)
    assert (await b.until(ExitCode)).exit_code == 0
    assert bytes(b.stdout) == b"a" * 10_000 + b"b" * 40_000
