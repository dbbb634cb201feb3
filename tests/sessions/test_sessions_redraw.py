"""The reattach redraw, byte by byte, through a real server (PROTOCOL.md, "The redraw").

A line reader must see each screen line whole; the alternate screen comes
alone and the main screen after it; no output of the program can end a
session, fail a reattach or lose output.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading

import pytest
from support.sessions import ServerFactory
from support.termclient import (
    ALT_TOGGLE,
    in_alternate_screen,
    more_output_arrives_whole,
    reattach,
    redraw,
    shell,
    start_shell,
)
from support.wsclient import ClientPool
from wsep_protocol import Command, ExitCode, Pid, Start
from wsep_server.sessions import TerminalState
from wsep_server.sessions.screen import EmulatedScreen

TIMEOUT = 0.5
CUP = re.compile(rb"\x1b\[\d+;\d+H")


@pytest.fixture
def server(server: ServerFactory) -> ServerFactory:
    """Sessions here outlive a detach for ``TIMEOUT`` only."""
    return functools.partial(server, timeout=TIMEOUT)


@pytest.mark.parametrize("cols", [24, 80])
async def test_a_line_reader_sees_every_screen_line_whole_after_reattach(
    server: ServerFactory, clients: ClientPool, cols: int
) -> None:
    url, _ = await server()
    a = await start_shell(clients, url, "lines", cols)
    await a.type("echo test:$((123456+123456))\n")
    await a.until_output(b"test:246912\r\n# ")
    await a.drop()
    b = await clients.start(url, shell("lines", cols=cols))
    assert isinstance(await b.recv(), Pid)
    screen = await redraw(b)
    # The logical lines, each whole (the 24-column one wrapped by the terminal alone).
    assert b"# echo test:$((123456+123456))\r\ntest:246912\r\n#" in screen
    lines = screen.split(b"\r\n")
    assert lines[-3].endswith(b"# echo test:$((123456+123456))")
    assert lines[-2] == b"test:246912"
    # No cursor addressing but the final one; no trailing blank rows.
    assert len(CUP.findall(screen)) == 1
    row = 4 if cols < 30 else 3
    assert re.fullmatch(rb"#\x1b\[%d;3H\x1b\[0m\x1b\[\?25h" % row, lines[-1])
    copy = TerminalState(24, cols)
    copy.feed(screen)
    assert copy.display()[:3] == [
        line.ljust(cols)
        for line in (
            "# echo test:$((123456+123456))"[:cols],
            "# echo test:$((123456+123456))"[cols:] or "test:246912",
            "test:246912" if cols < 30 else "#",
        )
    ]
    await more_output_arrives_whole(b)


async def test_the_alternate_screen_comes_alone_and_the_main_screen_after_it(
    server: ServerFactory, clients: ClientPool
) -> None:
    url, manager = await server()
    all_along = await in_alternate_screen(clients, url)
    late, screen = await reattach(clients, url, ALT_TOGGLE)
    assert b"\x1b[?1049h" in screen
    assert b"ALT SCREEN 0" in screen
    assert b"main line" not in screen  # nothing of the main screen
    assert b"main> " not in screen
    await late.type("main\n")
    for client in (all_along, late):
        try:
            await client.until_output(b"back 1\r\nmain> ")
        except TimeoutError:
            raise AssertionError(bytes(client.stdout)) from None
    after = bytes(late.stdout[len(screen) :])
    assert after.index(b"\x1b[?1049l") < after.index(b"main line one\r\nmain line two\r\nmain>")
    # Both clients' terminals show the same picture.
    pictures = []
    for client in (all_along, late):
        state = TerminalState(24, 80)
        state.feed(bytes(client.stdout))
        pictures.append((state.display(), state.screen.cursor.x, state.screen.cursor.y))
    assert pictures[0] == pictures[1]
    assert pictures[0][0][:4] == [
        line.ljust(80) for line in ("main line one", "main line two", "main> alt", "back 1")
    ]
    session = manager.get(None, "alt")
    assert session is not None
    assert session.terminal is not None
    assert session.terminal.display() == pictures[0][0]
    # A second round trip needs no repaint: the late client's terminal saves its own main screen.
    await late.type("alt\n")
    await late.until_output(b"alt> ")
    mark = len(late.stdout)
    await late.type("main\n")
    await late.until_output(b"back 3\r\nmain> ")
    assert b"main line one" not in late.stdout[mark:]
    await late.type("exit\n")
    assert (await late.until(ExitCode)).exit_code == 3
    assert (await all_along.until(ExitCode)).exit_code == 3


async def test_several_clients_attaching_at_once_get_the_same_redraw(
    server: ServerFactory, clients: ClientPool
) -> None:
    url, _ = await server()
    a = await start_shell(clients, url, "many", 30)
    await a.type("echo one-two-three-four-five-six-seven\n")
    await a.until_output(b"\r\none-two-three-four-five-six-seven\r\n# ")
    others = [await clients.connect(url) for _ in range(5)]
    await asyncio.gather(*(c.send(shell("many", cols=30)) for c in others))
    screens = await asyncio.gather(*(redraw(c) for c in others))
    assert len(set(screens)) == 1
    words = b"one-two-three-four-five-six-seven"
    assert b"# echo " + words + b"\r\n" + words + b"\r\n#" in screens[0]
    await a.type("echo after:$((6*7))\n")
    for client in (a, *others):
        await client.until_output(b"after:42\r\n")
    await more_output_arrives_whole(others[-1])


async def test_after_a_timeout_the_same_id_is_a_fresh_session_with_a_fresh_screen(
    server: ServerFactory, clients: ClientPool
) -> None:
    url, manager = await server()
    a = await start_shell(clients, url, "t", 80)
    await a.type("echo OLD-$((1+1))\n")
    await a.until_output(b"OLD-2\r\n# ")
    session = manager.get(None, "t")
    assert session is not None
    await a.close()
    await asyncio.wait_for(session.ended.wait(), 30)
    b = await start_shell(clients, url, "t", 80)
    await b.type("echo NEW-$((2+2))\n")
    await b.until_output(b"NEW-4\r\n# ")
    assert b"OLD" not in b.stdout
    await b.drop()
    c = await clients.start(url, shell("t"))
    assert isinstance(await c.recv(), Pid)
    screen = await redraw(c)
    assert b"OLD" not in screen
    assert b"# echo NEW-$((2+2))\r\nNEW-4\r\n#" in screen


async def test_private_sgr_from_a_program_does_not_end_the_session_v1(
    server: ServerFactory, clients: ClientPool
) -> None:
    url, _ = await server()
    a = await clients.connect(url)
    code = "printf 'x\\033[?4my\\033[>4;2m\\033[<u\\033P+q544e\\033\\\\z\\n'; echo done"
    await a.send(Start(Command("sh", ("-c", code), tty=True), id="sgr"))
    status = await a.until(ExitCode)
    assert status.exit_code == 0
    assert b"done" in a.stdout


async def test_a_session_survives_a_broken_emulator_and_reattaches(
    server: ServerFactory, clients: ClientPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = EmulatedScreen.draw

    def breaks_on_boom(self: EmulatedScreen, data: str) -> None:
        if "BOOM" in data:
            raise RuntimeError("emulator bug")
        original(self, data)

    monkeypatch.setattr(EmulatedScreen, "draw", breaks_on_boom)
    url, _ = await server()
    a = await start_shell(clients, url, "boom", 80)
    await a.type("echo BOOM; printf '\\033[?4m'; echo ok-$((40+2))\n")
    await a.until_output(b"ok-42\r\n# ")
    await a.drop()
    b, screen = await reattach(clients, url, shell("boom"))
    assert b"ok-42" in screen
    await more_output_arrives_whole(b)
    await b.type("exit 5\n")
    assert (await b.until(ExitCode)).exit_code == 5


async def test_emulation_runs_on_its_own_threads_one_at_a_time(
    server: ServerFactory, clients: ClientPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not on the default executor (shared with password hashing), and never concurrently."""
    original = EmulatedScreen.draw
    threads: set[str] = set()
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def recording(self: EmulatedScreen, data: str) -> None:
        nonlocal inside, overlaps
        with guard:
            inside += 1
            overlaps += inside > 1
        threads.add(threading.current_thread().name)
        try:
            original(self, data)
        finally:
            with guard:
                inside -= 1

    monkeypatch.setattr(EmulatedScreen, "draw", recording)
    url, _ = await server()
    a = await start_shell(clients, url, "threads")
    await a.type("seq 1 20000 | sed 's/^/\\x1b[1m/'; echo end-$((1+1))\n")
    await a.until_output(b"end-2\r\n# ", timeout=120)
    await a.drop()
    _, screen = await reattach(clients, url, shell("threads"))
    assert b"end-2" in screen
    assert threads
    assert all(name.startswith("wsep-terminal") for name in threads), threads
    assert overlaps == 0
