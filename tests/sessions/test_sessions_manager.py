"""Sessions driven directly through the SessionManager, with real PTYs and pipes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from support.sessions import py, script
from support.streams import read_all, read_until
from wsep_protocol import Command
from wsep_protocol.sessions import NoSuchSession
from wsep_server.hooks import Identity
from wsep_server.local import LocalExecer
from wsep_server.sessions import SessionConfig, SessionManager

TIMEOUT = 0.5


@pytest.fixture
async def manager(no_leaked_children: None) -> AsyncIterator[SessionManager]:
    mgr = SessionManager(
        LocalExecer(grace_period=2.0, output_linger=0.5), SessionConfig(timeout=TIMEOUT)
    )
    yield mgr
    await asyncio.wait_for(mgr.close(), 30)


async def test_no_size_given_means_24_by_80(manager: SessionManager) -> None:
    client = await manager.open("s", Command("stty", ("size",), tty=True))
    out = await read_all(client.stdout)
    assert b"24 80" in out
    assert (await asyncio.wait_for(client.wait(), 30)).code == 0
    await client.close()


async def test_reattach_after_disconnect_shows_the_screen(manager: SessionManager) -> None:
    first = await manager.open("s", script("echo_size.py"))
    assert first.created
    await read_until(first.stdout, b"started")
    first.stdin.write(b"one\n")
    await read_until(first.stdout, b"echo:one")
    await first.close()  # the connection dropped
    session = manager.get(None, "s")
    assert session.running
    assert session.idle_deadline is not None

    second = await manager.open("s", script("echo_size.py"))
    assert not second.created
    assert second.pid == first.pid
    assert session.idle_deadline is None
    screen = await read_until(second.stdout, b"echo:one")  # the redraw
    assert b"started" in screen
    second.stdin.write(b"two\n")
    await read_until(second.stdout, b"echo:two")
    second.stdin.write(b"exit\n")
    await read_all(second.stdout)
    assert (await asyncio.wait_for(second.wait(), 30)).code == 7
    await asyncio.wait_for(session.ended.wait(), 30)
    assert manager.find(None, "s") is None


async def test_second_client_keeps_the_session_past_the_timeout(manager: SessionManager) -> None:
    a = await manager.open("s", script("echo_size.py"))
    b = await manager.open("s", script("echo_size.py"))
    await read_until(a.stdout, b"started")
    await read_until(b.stdout, b"started")
    await a.close()
    session = manager.get(None, "s")
    assert session.idle_deadline is None  # b is still attached: no timer at all
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(session.ended.wait()), TIMEOUT * 4)
    b.stdin.write(b"still\n")
    await read_until(b.stdout, b"echo:still")
    assert manager.find(None, "s") is session
    await b.close()


async def test_after_the_timeout_a_new_session_starts_clean(manager: SessionManager) -> None:
    a = await manager.open("s", script("echo_size.py"))
    await read_until(a.stdout, b"started")
    a.stdin.write(b"OLD-OUTPUT\n")
    await read_until(a.stdout, b"echo:OLD-OUTPUT")
    old = manager.get(None, "s")
    await a.close()
    await asyncio.wait_for(old.ended.wait(), 30)  # the timeout passed with nobody attached
    assert old.end_reason == "timeout"
    b = await manager.open("s", script("echo_size.py"))
    assert b.created
    assert b.pid != a.pid
    out = await read_until(b.stdout, b"started")
    assert b"OLD-OUTPUT" not in out
    await b.close()


async def test_two_clients_see_output_and_both_may_type(manager: SessionManager) -> None:
    a = await manager.open("s", script("echo_size.py"), size=(30, 100))
    b = await manager.open("s", script("echo_size.py"), size=(20, 120))
    await read_until(a.stdout, b"started")
    await read_until(b.stdout, b"started")
    a.stdin.write(b"from-a\n")
    for client in (a, b):  # the smallest rows and the smallest columns
        await read_until(client.stdout, b"echo:from-a size:20x100")
    b.stdin.write(b"from-b\n")
    await read_until(a.stdout, b"echo:from-b")
    await read_until(b.stdout, b"echo:from-b")
    await b.close()  # the smaller one left: the terminal grows
    a.stdin.write(b"alone\n")
    await read_until(a.stdout, b"echo:alone size:30x100")
    observer = await manager.open("s", None, read_only=True, size=(10, 10))
    a.stdin.write(b"watched\n")
    await read_until(observer.stdout, b"echo:watched size:30x100")  # observers do not shrink it
    a.stdin.write(b"exit\n")
    for client in (a, observer):  # every attached client gets the exit
        await read_all(client.stdout)
        assert (await asyncio.wait_for(client.wait(), 30)).code == 7


async def test_full_screen_program_is_redrawn_without_its_queries(manager: SessionManager) -> None:
    a = await manager.open("fs", script("fullscreen.py"), size=(24, 80))
    first = await read_until(a.stdout, b"ready>")
    assert b"\x1b[c" in first
    assert b"\x1b[6n" in first
    await a.close()
    b = await manager.open("fs", script("fullscreen.py"), size=(24, 80))
    redraw = await read_until(b.stdout, b"ready>")
    assert b"\x1b[?1049h" in redraw
    assert b"FULL SCREEN TITLE" in redraw
    assert b"boxed" in redraw
    assert b"\x1b[c" not in redraw
    assert b"\x1b[6n" not in redraw
    # Only the alternate screen: the main screen comes when the program leaves it.
    assert b"before the app" not in redraw
    b.stdin.write(b"hello\n")
    await read_until(b.stdout, b"got: hello")
    b.stdin.write(b"quit\n")
    after = await read_all(b.stdout)
    assert after.index(b"\x1b[?1049l") < after.index(b"before the app")
    assert (await asyncio.wait_for(b.wait(), 30)).code == 0


async def test_observer_cannot_type_nor_create(manager: SessionManager) -> None:
    with pytest.raises(NoSuchSession):
        await manager.open("s", script("echo_size.py"), read_only=True)
    owner = await manager.open("s", script("echo_size.py"))
    observer = await manager.open("s", None, read_only=True)
    await read_until(observer.stdout, b"started")
    observer.stdin.write(b"typed-by-observer\n")
    await observer.stdin.drain()
    await observer.send_signal(9)
    owner.stdin.write(b"typed-by-owner\n")
    out = await read_until(observer.stdout, b"echo:typed-by-owner")
    assert b"typed-by-observer" not in out
    assert manager.get(None, "s").running
    await observer.close()
    await owner.close()


async def test_sessions_are_scoped_to_identities(manager: SessionManager) -> None:
    alice, bob = Identity("alice"), Identity("bob")
    a = await manager.open("work", script("echo_size.py"), identity=alice)
    await read_until(a.stdout, b"started")
    with pytest.raises(NoSuchSession):
        await manager.open("work", None, identity=bob)
    with pytest.raises(NoSuchSession):
        manager.get(None, "work")  # anonymous is another identity too
    assert [s.id for s in manager.list(bob)] == []
    # Bob's start with the same id is his own, new session.
    b = await manager.open("work", script("echo_size.py"), identity=bob)
    assert b.created
    assert b.pid != a.pid
    # Alice grants Bob access: now he reaches hers (his own first, so end his).
    await b.close()
    await manager.end(bob, "work")
    manager.grant(manager.get(alice, "work"), bob)
    c = await manager.open("work", None, identity=bob)
    assert c.pid == a.pid
    assert [s.id for s in manager.list(bob)] == ["work"]
    await c.close()
    await a.close()


async def test_list_inspect_end(manager: SessionManager) -> None:
    a = await manager.open("one", script("echo_size.py"), peer="127.0.0.1:1", size=(30, 90))
    b = await manager.open("two", py("import time; print('x', flush=True); time.sleep(60)"))
    await read_until(b.stdout, b"x")
    info = manager.get(None, "one").describe()
    assert info.argv[-1].endswith("echo_size.py")
    assert info.state == "running"
    assert [(c.peer, c.read_only, c.rows, c.cols) for c in info.clients] == [
        ("127.0.0.1:1", False, 30, 90)
    ]
    assert [s.id for s in manager.list(None)] == ["one", "two"]
    ended = await manager.end(None, "two")
    status = await asyncio.wait_for(b.wait(), 30)  # the attached client gets the exit
    assert status.signal is not None
    assert ended.end_reason == "ended by request"
    assert [s.id for s in manager.list(None)] == ["one"]
    with pytest.raises(NoSuchSession):
        await manager.end(None, "two")
    await a.close()


async def test_concurrent_starts_of_one_id_make_one_session(manager: SessionManager) -> None:
    clients = await asyncio.gather(
        *(manager.open("same", script("echo_size.py")) for _ in range(5))
    )
    assert len({c.pid for c in clients}) == 1
    assert sum(c.created for c in clients) == 1
    for c in clients:
        await c.close()


async def test_a_slow_client_is_redrawn_instead_of_buffered(no_leaked_children: None) -> None:
    config = SessionConfig(timeout=TIMEOUT, client_buffer=64 << 10, client_stall=0.2)
    mgr = SessionManager(LocalExecer(output_linger=0.5), config)
    try:
        code = (
            "import sys\n"
            "for i in range(3000): sys.stdout.write(f'line {i:05d} ' + 'x' * 60 + '\\n')\n"
            "sys.stdout.write('LAST-LINE\\n'); sys.stdout.flush(); sys.stdin.readline()"
        )
        fast = await mgr.open("s", py(code))
        slow = await mgr.open("s", None)
        await read_until(fast.stdout, b"LAST-LINE")  # the slow one has not read at all
        assert slow._queued <= config.client_buffer
        out = await read_until(slow.stdout, b"LAST-LINE")
        history = 3000 * 72
        assert out.count(b"\x1b[H\x1b[2J") >= 2  # a redraw with scrollback replaced the backlog
        assert len(out) < history // 2  # not the whole history
        fast.stdin.write(b"\n")
        for client in (fast, slow):
            await read_all(client.stdout)
            assert (await asyncio.wait_for(client.wait(), 30)).code == 0
    finally:
        await asyncio.wait_for(mgr.close(), 30)


async def test_a_client_that_keeps_up_gets_every_byte(manager: SessionManager) -> None:
    code = "import sys\nfor i in range(40000): sys.stdout.write(f'{i:06d} ' + 'z' * 40 + '\\n')\n"
    client = await manager.open("s", py(code))
    out = await read_all(client.stdout)
    assert (await asyncio.wait_for(client.wait(), 30)).code == 0
    want = b"".join(b"%06d %s\r\n" % (i, b"z" * 40) for i in range(40000))
    assert out.endswith(want)  # after the redraw on attach, every byte in order


def test_defaults_match_the_go_server() -> None:
    config = SessionConfig()
    assert config.timeout == 300.0  # five minutes, counted while nobody is attached
    assert config.terminal.max_rows >= 24
