"""Many starts without leaks; output linger when a grandchild holds the pipe."""

from __future__ import annotations

import asyncio
import hashlib
import os
import platform
import signal
import time
from pathlib import Path

import pytest
from support import TIMEOUT
from support.localexec import run
from support.proc import live_group_members, open_fds, zombies_of
from support.streams import read_all
from wsep_protocol import Command
from wsep_server.local import LocalExecer


@pytest.mark.parametrize("tty", [False, True])
async def test_many_starts_leak_nothing(execer: LocalExecer, tty: bool) -> None:
    # Warm up lazily created fds (event loop, /dev/null) before counting.
    proc = await execer.start(Command("true", tty=tty))
    await proc.close()
    before = open_fds()
    for i in range(100):
        proc = await execer.start(Command("echo", (str(i),), tty=tty, stdin=i % 2 == 0))
        if i % 3 == 0:  # sometimes close while the child may still run
            await proc.close()
            continue
        out = await read_all(proc.stdout)
        assert out.strip() == str(i).encode()
        assert (await proc.wait()).code == 0
        await proc.close()
    assert open_fds() == before
    assert zombies_of() == []


async def test_close_while_reading(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sleep", ("100",)))
    reader = asyncio.ensure_future(proc.stdout.read_message(b"h", 1024))
    await asyncio.sleep(0)
    await proc.close()
    assert await asyncio.wait_for(reader, TIMEOUT) == b""


@pytest.mark.parametrize("tty", [False, True])
async def test_output_linger_with_grandchild(tty: bool) -> None:
    execer = LocalExecer(output_linger=0.3, grace_period=0.3)
    # The grandchild ignores SIGHUP so that the TTY's hang-up at the child's exit spares it.
    script = "trap '' HUP; head -c 500000 /dev/zero; sleep 100 & echo child-done"
    proc = await execer.start(Command("sh", ("-c", script), tty=tty))
    try:
        reader = asyncio.ensure_future(read_all(proc.stdout))
        status = await asyncio.wait_for(proc.wait(), TIMEOUT)
        exited = time.monotonic()
        out = await reader
        eof_after = time.monotonic() - exited
        assert status.code == 0
        newline = b"\r\n" if tty else b"\n"
        assert out == bytes(500000) + b"child-done" + newline  # everything, then EOF
        assert eof_after < 5  # the linger (0.3 s), not the grandchild's 100 s
        assert len(live_group_members(proc.pid)) == 1  # the grandchild still runs...
    finally:
        await proc.close()
    assert live_group_members(proc.pid) == []  # ...until close()


async def test_output_linger_bounds_a_chatty_grandchild() -> None:
    """A grandchild that keeps writing cannot hold EOF back forever."""
    execer = LocalExecer(output_linger=0.2)
    script = "(while :; do echo spam; done) & echo child-done"
    proc = await execer.start(Command("sh", ("-c", script)))
    try:
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        out = await asyncio.wait_for(read_all(proc.stdout), TIMEOUT)
        assert b"child-done\n" in out
    finally:
        await proc.close()


async def test_output_complete_when_read_after_exit(execer: LocalExecer, tmp_path: Path) -> None:
    """Both streams deliver every byte (hash-checked) even when read only after wait()."""
    script = "head -c 400000 /dev/urandom > data; cat data; cat data >&2; sha256sum < data >&2"
    proc = await execer.start(Command("sh", ("-c", script), working_dir=str(tmp_path)))
    try:
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        out, err = await asyncio.gather(read_all(proc.stdout), read_all(proc.stderr))
    finally:
        await proc.close()
    assert len(out) == 400000
    assert err[:400000] == out
    assert err[400000:].split()[0].decode() == hashlib.sha256(out).hexdigest()


async def test_exit_detection_without_pidfd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels before 5.3 have no pidfd: a thread waits for the child instead."""
    monkeypatch.delattr(os, "pidfd_open")
    execer = LocalExecer()
    before = open_fds()
    for code in (0, 3):
        proc = await execer.start(Command("sh", ("-c", f"echo x; exit {code}")))
        assert await read_all(proc.stdout) == b"x\n"
        assert (await asyncio.wait_for(proc.wait(), TIMEOUT)).code == code
        await proc.close()
    proc = await execer.start(Command("sleep", ("100",)))
    await proc.close()
    assert (await proc.wait()).signal == signal.SIGTERM
    assert open_fds() == before


def test_tune_malloc() -> None:
    from wsep_server.local.malloc import tune_malloc

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert tune_malloc() is True


@pytest.mark.parametrize("tty", [False, True])
async def test_child_inherits_only_stdio(execer: LocalExecer, tty: bool) -> None:
    """None of the server's fds (other pipes, pidfds, PTY masters) reach a child."""
    other = await execer.start(Command("sleep", ("100",), tty=True, stdin=True))
    try:
        script = "ls /proc/$$/fd"
        out, _, _ = await asyncio.wait_for(
            run(execer, Command("sh", ("-c", script), tty=tty, stdin=True)), TIMEOUT
        )
    finally:
        await other.close()
    assert sorted(int(fd) for fd in out.split()) == [0, 1, 2]
