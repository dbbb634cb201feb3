"""Real programs in real PTYs through a real server, each followed by a reattach.

vim (with xterm.js's answers to its queries), less, top, htop, tmux inside a
session, every xterm-256color capability (from ``infocmp``, and through
``tput``), and random and mutated escape sequences (among them the captured
output of those programs). After each: a reattach whose screen is checked,
more output that must arrive whole, and the exit code.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import FULL
from support.sessions import UNSUPPORTED, ServerFactory
from support.termclient import Answerer, more_output_arrives_whole, redraw, shell, start_shell
from support.wsclient import ClientPool, WsClient
from wsep_protocol import ExitCode, Pid
from wsep_server.sessions import SessionManager, TerminalState

pytestmark = pytest.mark.once

HERE = Path(__file__).parent
#: Output of the programs run here, for the random test to mutate.
CAPTURED: dict[str, bytes] = {}


def _need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed")


async def _reattach(clients: ClientPool, url: str, session_id: str) -> tuple[WsClient, list[str]]:
    """Drop nothing: a second client attaches; returns it and the picture its redraw shows."""
    b = await clients.start(url, shell(session_id))
    assert isinstance(await b.recv(), Pid)
    screen = await redraw(b)
    picture = TerminalState(24, 80)
    picture.feed(screen)
    return b, [line.rstrip() for line in picture.display()]


async def _program(
    clients: ClientPool,
    url: str,
    manager: SessionManager,
    name: str,
    command: str,
    ready: tuple[bytes, ...],
    expect: Callable[[list[str]], bool],
    quit_keys: str,
) -> None:
    """Run ``command`` in a shell session, reattach while it shows, quit, go on."""
    a = await start_shell(clients, url, name)
    answers = Answerer(a)
    start = len(a.stdout)
    await a.type(command + "\n")
    for needle in ready:  # everything the check below looks for is drawn
        await answers.until(needle, start=start)
    await a.drop()
    CAPTURED[name] = bytes(a.stdout[start:])
    b, picture = await _reattach(clients, url, name)
    assert expect(picture), "\n".join(picture)
    session = manager.get(None, name)
    assert session is not None
    assert session.terminal is not None
    assert session.terminal.failures == 0
    await b.type(quit_keys)
    for _ in range(40):  # a program may drop what was typed while it quit: type again
        await b.type("echo back-in-$((40+2))\n")
        try:
            await b.until_output(b"back-in-42\r\n# ", timeout=3)
            break
        except (AssertionError, asyncio.TimeoutError):
            continue
    else:
        raise AssertionError(f"{name} did not quit: {bytes(b.stdout[-2000:])!r}")
    await more_output_arrives_whole(b)
    _, picture = await _reattach(clients, url, name)
    assert "2000" in picture, "\n".join(picture)
    await b.type("exit 0\n")
    assert (await b.until(ExitCode, timeout=60)).exit_code == 0
    assert session.terminal.failures == 0


async def test_vim(server: ServerFactory, clients: ClientPool, tmp_path: Path) -> None:
    _need("vim")
    url, manager = await server()
    text = tmp_path / "poem.txt"
    text.write_text("".join(f"line {i} of the poem\n" for i in range(1, 11)))
    command = f"HOME={tmp_path} vim -N -i NONE --cmd 'set t_RV&' {text}"
    await _program(
        clients,
        url,
        manager,
        "vim",
        command,
        (b"line 10 of the poem", b"~"),
        lambda p: p[0] == "line 1 of the poem" and p[9] == "line 10 of the poem" and "~" in p,
        "\x1b:q!\r",
    )


async def test_less(server: ServerFactory, clients: ClientPool) -> None:
    _need("less")
    url, manager = await server()
    await _program(
        clients,
        url,
        manager,
        "less",
        "seq 1 1000 | LESS= less",
        (b"\r\n23",),
        lambda p: p[0] == "1" and p[22] == "23",
        "q",
    )


async def test_top(server: ServerFactory, clients: ClientPool) -> None:
    _need("top")
    url, manager = await server()
    await _program(
        clients,
        url,
        manager,
        "top",
        "top -d 100",
        (b"top -", b"PID"),
        lambda p: p[0].startswith("top -") and any("PID" in line for line in p),
        "q",
    )


async def test_htop(server: ServerFactory, clients: ClientPool, tmp_path: Path) -> None:
    _need("htop")
    url, manager = await server()
    await _program(
        clients,
        url,
        manager,
        "htop",
        f"HOME={tmp_path} htop -d 1000",
        (b"PID", b"Quit"),
        lambda p: any("PID" in line for line in p) and any("Quit" in line for line in p),
        "q",
    )


async def test_tmux_inside_a_session(
    server: ServerFactory, clients: ClientPool, tmp_path: Path
) -> None:
    _need("tmux")
    url, manager = await server()
    command = (
        f"TMUX= TMUX_TMPDIR={tmp_path} tmux -L wsep -f /dev/null new-session "
        "\"sh -c 'echo inside-$((20+3)); exec sh'\""
    )
    await _program(
        clients,
        url,
        manager,
        "tmux",
        command,
        (b"inside-23", b"[0]"),
        lambda p: p[0] == "inside-23" and p[23].startswith("[0]"),
        "exit\r",
    )


async def test_every_xterm_capability(server: ServerFactory, clients: ClientPool) -> None:
    _need("infocmp")
    _need("tput")
    url, manager = await server()
    a = await start_shell(clients, url, "caps")
    start = len(a.stdout)
    # Every string capability, expanded, one by one (infocmp), then through tput.
    await a.type(f"{sys.executable} {HERE / 'scripts' / 'capabilities.py'}\n")
    await a.until_output(b"capabilities-done", timeout=120)
    await a.type(
        "for c in $(infocmp -1 xterm-256color | sed -n 's/^\\t\\([a-zA-Z0-9]*\\)[=#,].*/\\1/p'); "
        "do printf '%s:' $c; tput $c 1 2 3 4 5 6 7 8 9 2>/dev/null; echo; done; "
        "tput sgr0; tput rmcup; tput rs1; echo tput-$((1+1))-done\n"
    )
    await a.until_output(b"tput-2-done", timeout=180)
    CAPTURED["capabilities"] = bytes(a.stdout[start:])
    session = manager.get(None, "caps")
    assert session is not None
    assert session.terminal is not None
    b, picture = await _reattach(clients, url, "caps")
    assert any(line.startswith("tput-2-done") for line in picture), "\n".join(picture)
    await more_output_arrives_whole(b)
    await b.type("exit 0\n")
    assert (await b.until(ExitCode, timeout=60)).exit_code == 0
    assert session.terminal.failures == 0


def _corpus(rng: random.Random, count: int) -> list[bytes]:
    """Random bytes, known troublemakers, and mutated program output."""
    captured = list(CAPTURED.values()) or [b"\x1b[?1049h\x1b[1;1Hplain\x1b[?4m\x1b[?1049l"]
    pieces: list[bytes] = []
    for _ in range(count):
        kind = rng.randrange(4)
        if kind == 0:
            pieces.append(rng.randbytes(rng.randrange(1, 200)))
        elif kind == 1:
            pieces.append(b"".join(rng.choice(UNSUPPORTED) for _ in range(rng.randrange(1, 8))))
        else:
            source = rng.choice(captured)
            at = rng.randrange(max(1, len(source)))
            chunk = bytearray(source[at : at + rng.randrange(16, 1800)])
            for _ in range(rng.randrange(0, 8)):  # flips, drops, duplications
                if not chunk:
                    break
                i = rng.randrange(len(chunk))
                op = rng.randrange(3)
                if op == 0:
                    chunk[i] = rng.randrange(256)
                elif op == 1:
                    del chunk[i]
                else:
                    chunk[i:i] = chunk[i : i + rng.randrange(1, 16)]
            pieces.append(bytes(chunk))
    return pieces


async def test_random_and_mutated_sequences_never_end_the_session(
    server: ServerFactory, clients: ClientPool
) -> None:
    url, manager = await server()
    a = await clients.connect(url)
    writer = HERE / "scripts" / "hex_writer.py"
    from wsep_protocol import Command, Start

    await a.send(Start(Command(sys.executable, ("-u", str(writer)), tty=True), id="fuzz"))
    assert isinstance(await a.recv(), Pid)
    await a.until_output(b"writer-ready")
    rng = random.Random(20261204)
    pieces = _corpus(rng, 400 if FULL else 60)
    for i, piece in enumerate(pieces):
        text = piece.hex()
        for at in range(0, len(text), 2000):  # one PTY line at most
            await a.type(text[at : at + 2000] + "\n")
        await a.type(".\n")
        await a.until_output(b"written-%d." % i, timeout=60)
        if i % 20 == 19:  # now and then a reattach in the middle of it
            await a.drop()
            a = await clients.start(
                url, Start(Command(sys.executable, ("-u", str(writer)), tty=True), id="fuzz")
            )
            await redraw(a)
    session = manager.get(None, "fuzz")
    assert session is not None
    assert session.terminal is not None
    await a.type("exit\n")
    assert (await a.until(ExitCode, timeout=60)).exit_code == 4
    await asyncio.wait_for(session.ended.wait(), 30)
    assert session.terminal.failures == 0
