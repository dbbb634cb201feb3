"""Signals and close(): whole groups end, nothing survives, nothing is left unreaped."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from support import TIMEOUT
from support.localexec import start_until
from support.proc import live_group_members, proc_stat
from support.streams import read_all
from wsep_protocol import Command
from wsep_server.local import LocalExecer


async def test_kill_9_reports_signal(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sh", ("-c", "kill -9 $$")))
    try:
        status = await asyncio.wait_for(proc.wait(), TIMEOUT)
    finally:
        await proc.close()
    assert status.code == -1
    assert status.signal == 9
    assert status.error == "signal: killed"


async def test_send_signal(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sleep", ("100",)))
    try:
        await proc.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(proc.wait(), TIMEOUT)
        assert (status.signal, status.error) == (15, "signal: terminated")
        await proc.send_signal(signal.SIGTERM)  # after the exit: a no-op, no error
    finally:
        await proc.close()


async def test_core_dump_reported(execer: LocalExecer, tmp_path: object) -> None:
    with open("/proc/sys/kernel/core_pattern") as f:
        if f.read().startswith("|"):
            pytest.skip("core dumps are piped to a handler here")
    cmd = Command("sh", ("-c", "ulimit -c unlimited; kill -SEGV $$"), working_dir=str(tmp_path))
    proc = await execer.start(cmd)
    try:
        status = await asyncio.wait_for(proc.wait(), TIMEOUT)
    finally:
        await proc.close()
    assert status.signal == signal.SIGSEGV
    if status.core_dumped:
        assert status.error == "signal: segmentation fault (core dumped)"


async def test_close_kills_grandchildren(execer: LocalExecer) -> None:
    script = "sleep 100 & sleep 100 & echo started; wait"
    proc, _ = await start_until(execer, Command("sh", ("-c", script)), b"started")
    assert len(live_group_members(proc.pid)) == 3
    await proc.close()
    assert live_group_members(proc.pid) == []
    assert (await proc.wait()).signal == signal.SIGTERM


async def test_close_after_exit_kills_leftovers(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sh", ("-c", "sleep 100 >/dev/null 2>&1 & echo bg")))
    assert await read_all(proc.stdout) == b"bg\n"
    assert (await asyncio.wait_for(proc.wait(), TIMEOUT)).code == 0
    assert len(live_group_members(proc.pid)) == 1
    await proc.close()
    assert live_group_members(proc.pid) == []


async def test_close_escalates_to_sigkill() -> None:
    execer = LocalExecer(grace_period=0.3)
    script = "trap '' TERM HUP; echo ready; while :; do sleep 0.01; done"
    proc, _ = await start_until(execer, Command("sh", ("-c", script)), b"ready")
    began = time.monotonic()
    await proc.close()
    elapsed = time.monotonic() - began
    assert (await proc.wait()).signal == signal.SIGKILL
    assert 0.25 <= elapsed < 10
    assert live_group_members(proc.pid) == []


async def test_close_continues_stopped_process() -> None:
    execer = LocalExecer(grace_period=60)
    proc, _ = await start_until(
        execer, Command("sh", ("-c", "echo stop; kill -STOP $$; sleep 100")), b"stop"
    )
    began = time.monotonic()
    await proc.close()
    assert (await proc.wait()).signal == signal.SIGTERM
    assert time.monotonic() - began < 30  # SIGCONT let SIGTERM act long before the grace period


async def test_close_is_idempotent_and_concurrent(execer: LocalExecer) -> None:
    proc = await execer.start(Command("sleep", ("100",)))
    await asyncio.gather(proc.close(), proc.close())
    await proc.close()
    assert (await proc.wait()).signal == signal.SIGTERM
    assert proc.returncode is not None
    assert await proc.stdout.read(1) == b""
    proc.stdin.write(b"ignored")
    await proc.stdin.drain()


def _alive(pid: int) -> bool:
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


#: Prints the pid of a ``sleep`` that has left the child's session (and still has a parent).
SETSID_SLEEP = "setsid sh -c 'echo $$; exec sleep 100' & wait"


@pytest.mark.parametrize("tty", [False, True])
async def test_close_reaches_a_descendant_that_left_with_setsid(
    execer: LocalExecer, tty: bool
) -> None:
    """``setsid`` takes a process out of the child's session and group, not out of its tree."""
    proc, buf = await start_until(execer, Command("sh", ("-c", SETSID_SLEEP), tty=tty), b"\n")
    escaped = int(buf.split()[0])
    assert proc_stat(escaped) is not None
    assert proc_stat(escaped)[2] != proc.pid  # type: ignore[index]
    await proc.close()
    assert not _alive(escaped)
    assert live_group_members(proc.pid) == []


async def test_an_escaped_descendant_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    """Its parent dies of SIGTERM first; the escaped one is still found for SIGKILL."""
    execer = LocalExecer(grace_period=0.3)
    script = "setsid sh -c 'trap \"\" TERM HUP; echo $$; exec sleep 100' & wait"
    proc, buf = await start_until(execer, Command("sh", ("-c", script)), b"\n")
    escaped = int(buf.split()[0])
    await proc.close()
    assert (await proc.wait()).signal == signal.SIGTERM
    assert not _alive(escaped)
