"""A server that ignores signals (``nohup``, a shell's background job) must not pass that on.

exec keeps ignored dispositions and the signal mask; a command that inherited an
ignored SIGINT would shrug off Ctrl-C, one with an ignored SIGHUP would outlive
its terminal. Every child starts with default dispositions and nothing blocked.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest
from support import TIMEOUT
from support.localexec import read_stdout_until
from support.streams import read_all
from wsep_protocol import Command
from wsep_server.local import LocalExecer, pspawn

#: What the command prints: its own ignored and blocked signal masks.
SHOW = "grep -E '^Sig(Ign|Blk):' /proc/self/status"
CLEAN = b"SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"


@pytest.fixture
def ignoring_server() -> Iterator[None]:
    """This process ignores what nohup and '&' make a server ignore, and blocks SIGUSR2."""
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGHUP, signal.SIGQUIT)}
    old_int = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2})
        signal.signal(signal.SIGINT, old_int)
        for s, handler in saved.items():
            signal.signal(s, handler)


async def _signals_shown(execer: LocalExecer, command: Command) -> bytes:
    """What SHOW printed (line ends as in a pipe), once it exited 0."""
    proc = await execer.start(command)
    try:
        out = await read_all(proc.stdout)
        assert (await asyncio.wait_for(proc.wait(), TIMEOUT)).code == 0
    finally:
        await proc.close()
    return out.replace(b"\r\n", b"\n")


@pytest.mark.usefixtures("ignoring_server")
@pytest.mark.parametrize(("tty", "stdin"), [(False, False), (False, True), (True, True)])
async def test_child_starts_with_default_signals(
    execer: LocalExecer, tty: bool, stdin: bool
) -> None:
    assert await _signals_shown(execer, Command("sh", ("-c", SHOW), tty=tty, stdin=stdin)) == CLEAN


@pytest.mark.usefixtures("ignoring_server")
async def test_ctrl_c_reaches_a_trapping_shell(execer: LocalExecer) -> None:
    """The symptom: with SIGINT inherited as ignored, ``trap ... INT`` is silently void."""
    script = "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 1; done"
    proc = await execer.start(Command("sh", ("-c", script)))
    try:
        buf = bytearray()
        await read_stdout_until(proc, b"ready\n", buf)
        await proc.send_signal(signal.SIGINT)
        status = await asyncio.wait_for(proc.wait(), TIMEOUT)
        assert bytes(buf) + await read_all(proc.stdout) == b"ready\ngot-int\n"
    finally:
        await proc.close()
    assert status.code == 7


@pytest.mark.usefixtures("ignoring_server")
@pytest.mark.parametrize("tty", [False, True])
async def test_fork_path_resets_signals_too(
    execer: LocalExecer, tty: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where posix_spawn cannot serve (switching users, no glibc) subprocess forks."""
    monkeypatch.setattr(pspawn, "available", lambda: False)
    assert await _signals_shown(execer, Command("sh", ("-c", SHOW), tty=tty)) == CLEAN


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
@pytest.mark.usefixtures("ignoring_server")
async def test_switched_user_starts_with_default_signals(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sh", ("-c", SHOW), uid=65534, working_dir="/"))
    try:
        out = await read_all(proc.stdout)
        assert (await asyncio.wait_for(proc.wait(), TIMEOUT)).code == 0
    finally:
        await proc.close()
    assert out == CLEAN
