"""Nothing a session starts outlives it: attacks on a real ``wsep-server`` process.

Each command leaves something behind that dodged the old process-group and
session cleanup (job control, ``setsid``, a double fork, ``daemon()``, and a
daemon that also drops its environment); the session then ends by a normal
exit, a disconnect or ``max_duration``. Afterwards every such process is gone
(its pid no longer names the process it named) and the server has no zombie
children. The descendant tracking (child subreaper) is what runs everywhere;
the cgroup v2 path runs where this machine lets the server create cgroups.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support import TIMEOUT
from support.proc import zombies_of
from support.security import attempt, start_message, wait_for

TOKEN = "process-token-0123456789abcdef"
#: The sessions' shell: bash turns job control on with ``set -m`` even without a terminal.
BASH = shutil.which("bash") or "/bin/bash"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}

#: Each prints the pid of what it leaves running, one per line.
LEFT_BEHIND = {
    "job control": "set -m; sleep 412 & echo $!",
    "setsid": "setsid sleep 413 & echo $!",
    "double fork": "( setsid sleep 414 & echo $! ) ; true",
    "daemon()": (
        f"{sys.executable} -c 'import ctypes, os, time; ctypes.CDLL(None).daemon(1, 1); "
        "print(os.getpid(), flush=True); time.sleep(415)'"
    ),
    "daemon() without its environment": (
        f"{sys.executable} -c 'import ctypes, os; ctypes.CDLL(None).daemon(1, 1); "
        'print(os.getpid(), flush=True); os.execve("/bin/sleep", ["sleep", "416"], {})\''
    ),
}


def _started(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks after boot), ``None`` when gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def _cgroup_writable() -> str | None:
    """Why the cgroup path cannot be tested here, or ``None`` when it can."""
    from wsep_server.local.cgroup import find_own_cgroup

    own = find_own_cgroup()
    if own is None:
        return "no cgroup v2 mounted"
    probe = own / f"wsep-probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError as exc:
        return f"cgroup {own} is not writable here ({exc.strerror})"
    probe.rmdir()
    return None


async def _read_pids(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[int]:
    text = b""
    while text.count(b"\n") < count:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert msg.type == aiohttp.WSMsgType.BINARY, msg
        head, _, body = msg.data.partition(b"\n")
        if json.loads(head)["type"] == "stdout":
            text += body
    return [int(x) for x in text.split()]


async def _disconnect_after_pids(url: str, script: str, count: int) -> dict[int, int]:
    """Start ``script``, read the pids it prints, note their start times, then drop the
    connection."""
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url, headers=HEADERS)
        await ws.send_str(start_message(BASH, "-c", script, working_dir="/"))
        started = _note(await _read_pids(ws, count))
        await ws.close()
    return started


async def _assert_all_gone(server_pid: int, pids: list[int], started: dict[int, int]) -> None:
    def gone() -> bool:
        return all(_started(pid) != started[pid] for pid in pids)

    await wait_for(gone)
    await wait_for(lambda: not zombies_of(server_pid))


def _note(pids: list[int]) -> dict[int, int]:
    """Start times of ``pids``; each must still be running at this point."""
    started = {}
    for pid in pids:
        st = _started(pid)
        assert st is not None, f"pid {pid} was gone before the session ended"
        started[pid] = st
    return started


# The subreaper path runs everywhere; the cgroup path (and the slower endings) once.
@pytest.fixture(params=["subreaper", pytest.param("cgroup", marks=pytest.mark.once)])
def contained_server(
    request: pytest.FixtureRequest, start_server_process: Callable[..., Any], tmp_path: Path
) -> Any:
    """A ``wsep-server`` with a 3 s ``max_duration`` for identity ``limited``."""
    if request.param == "cgroup":
        why = _cgroup_writable()
        if why is not None:
            pytest.skip(f"cgroup path: {why}")
    cgroup = "off" if request.param == "subreaper" else "auto"
    return start_server_process("--cgroup", cgroup, env={"WSEP_TOKEN": TOKEN})


#: Run on every interpreter; the other ways of leaving something behind run once.
_EVERYWHERE = ("job control", "daemon() without its environment")


@pytest.mark.parametrize(
    "what",
    [
        w if w in _EVERYWHERE else pytest.param(w, marks=pytest.mark.once)
        for w in sorted(LEFT_BEHIND)
    ],
)
async def test_nothing_outlives_a_normal_exit(contained_server: Any, what: str) -> None:
    # The pids are read while the session runs: ``read`` holds it until stdin says go.
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(contained_server.url, headers=HEADERS)
        script = f"{LEFT_BEHIND[what]}; read x"
        await ws.send_str(start_message(BASH, "-c", script, stdin=True, working_dir="/"))
        pids = await _read_pids(ws, 1)
        started = _note(pids)
        await ws.send_bytes(b'{"type":"stdin"}\ngo\n')  # the main process now exits normally
        while True:
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            if json.loads(msg.data.partition(b"\n")[0])["type"] == "exit_code":
                break
        await ws.close()
    await _assert_all_gone(contained_server.proc.pid, pids, started)


@pytest.mark.once
@pytest.mark.parametrize("what", ["job control", "double fork", "daemon() without its environment"])
async def test_nothing_outlives_a_disconnect(contained_server: Any, what: str) -> None:
    started = await _disconnect_after_pids(
        contained_server.url, f"{LEFT_BEHIND[what]}; sleep 600", 1
    )
    await _assert_all_gone(contained_server.proc.pid, list(started), started)


@pytest.mark.once
async def test_nothing_outlives_max_duration(
    start_server_process: Callable[..., Any], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(f"[default]\nmax_duration = 5\nuids = [{os.geteuid()}]\n")
    server = start_server_process(
        "--cgroup", "off", "--policy", str(policy), env={"WSEP_TOKEN": TOKEN}
    )
    # Job control last: under ``set -m`` a job leads its own group, and setsid(1) then forks.
    script = "; ".join(LEFT_BEHIND[k] for k in ("setsid", "double fork", "job control"))
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.url, headers=HEADERS)
        await ws.send_str(start_message(BASH, "-c", f"{script}; sleep 600", working_dir="/"))
        pids = await _read_pids(ws, 3)
        started = _note(pids)
        while (await asyncio.wait_for(ws.receive(), TIMEOUT)).type == aiohttp.WSMsgType.BINARY:
            pass  # until the server closes for the limit
        assert ws.close_code == 1008
    await _assert_all_gone(server.proc.pid, pids, started)


@pytest.mark.once
async def test_a_cgroup_holds_the_session(start_server_process: Callable[..., Any]) -> None:
    why = _cgroup_writable()
    if why is not None:
        pytest.skip(f"cgroup path: {why}")
    server = start_server_process("--cgroup", "auto", env={"WSEP_TOKEN": TOKEN})
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.url, headers=HEADERS)
        await ws.send_str(start_message(BASH, "-c", "setsid sleep 418 & echo $!; sleep 600"))
        (pid,) = await _read_pids(ws, 1)
        own = Path(f"/proc/{pid}/cgroup").read_text()
        assert f"/wsep-{server.proc.pid}/s" in own, own
        started = _note([pid])
        await ws.close()
    await _assert_all_gone(server.proc.pid, [pid], started)


@pytest.mark.once
async def test_unrelated_sessions_keep_running(contained_server: Any) -> None:
    """Ending one session ends its processes only: another session's daemon lives on."""
    async with aiohttp.ClientSession() as session:
        keep = await session.ws_connect(contained_server.url, headers=HEADERS)
        await keep.send_str(start_message(BASH, "-c", f"{LEFT_BEHIND['daemon()']}; sleep 600"))
        (kept,) = await _read_pids(keep, 1)
        kept_started = _note([kept])
        started = await _disconnect_after_pids(
            contained_server.url, f"{LEFT_BEHIND['double fork']}; sleep 600", 1
        )
        await _assert_all_gone(contained_server.proc.pid, list(started), started)
        assert _started(kept) == kept_started[kept]
        out = await attempt(contained_server.url, start_message("/bin/true"), headers=HEADERS)
        assert out.exit is not None
        assert out.exit["exit_code"] == 0
        await keep.close()
    await _assert_all_gone(contained_server.proc.pid, [kept], kept_started)
