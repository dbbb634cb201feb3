"""What the embedded execer ends on close, and what each child is given to be traced by."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from support import TIMEOUT
from support.localexec import run
from support.proc import proc_stat
from support.streams import read_all
from wsep_protocol import Command
from wsep_server.local import LocalExecer

BASH = shutil.which("bash") or "/bin/bash"


async def _gone(pid: int) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while loop.time() < deadline:
        st = proc_stat(pid)
        if st is None or st[0] == "Z":
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.parametrize("tty", [False, True])
async def test_job_control_jobs_end_with_the_session(execer: LocalExecer, tty: bool) -> None:
    # set -m: the job gets a process group of its own, and the main process exits first.
    proc = await execer.start(Command(BASH, ("-c", "set -m; sleep 412 & echo $!"), tty=tty))
    out = await asyncio.wait_for(read_all(proc.stdout), TIMEOUT)
    pid = int(out.split()[-1])
    await proc.wait()
    await proc.close()
    assert await _gone(pid)


async def test_a_new_session_below_a_running_process_ends_too(execer: LocalExecer) -> None:
    proc = await execer.start(Command(BASH, ("-c", "setsid sleep 413 & echo $!; sleep 600")))
    line = await asyncio.wait_for(proc.stdout.read(100), TIMEOUT)
    pid = int(line.split()[0])
    await proc.close()
    assert await _gone(pid)


async def test_children_get_a_session_tag_and_no_server_settings(
    execer: LocalExecer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSEP_TOKEN", "server-secret-0123456789")
    first, _, _ = await run(execer, Command("sh", ("-c", "env | grep ^WSEP_ || true")))
    second, _, _ = await run(execer, Command("sh", ("-c", "env | grep ^WSEP_ || true")))
    assert b"server-secret" not in first
    tags = [line for line in (first + second).splitlines() if line.startswith(b"WSEP_")]
    assert len(tags) == 2
    assert all(t.startswith(b"WSEP_SESSION_TAG=") for t in tags)
    assert tags[0] != tags[1]
