"""Idle strangers cannot exhaust the server: pending connections are capped per peer
and in all, the descriptor limit is raised, and private files stay private."""

from __future__ import annotations

import asyncio
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support import TIMEOUT
from support.security import TOKENS, attempt, start_message, wait_for
from support.wire import port_of

TOKEN = TOKENS["alice"]


def _idle_sockets(port: int, source: str, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    return socks


def _closed_by_server(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


async def test_idle_connections_are_capped_and_a_real_start_is_served(
    no_leaked_children: None, start_server_process: Callable[..., Any]
) -> None:
    srv = start_server_process(
        "--max-pending-per-peer", "20",
        "--max-pending-connections", "30",
        "--header-timeout", "120",
        env={"WSEP_TOKEN": TOKEN},
    )  # fmt: skip
    port = port_of(srv.url)
    flood = _idle_sockets(port, "127.0.0.2", 50)
    more: list[socket.socket] = []
    try:
        # One peer gets 20 slots; the server closes the other 30 at once.
        await wait_for(lambda: sum(map(_closed_by_server, flood)) == 30)
        assert sum(map(_closed_by_server, flood)) == 30
        # Someone else is served while the flood's 20 stay open.
        out = await attempt(
            srv.url, start_message("echo", "served"), headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert out.stdout == b"served\n"
        # The global bound: a second peer fills the remaining 10 slots, no more.
        more = _idle_sockets(port, "127.0.0.3", 20)
        await wait_for(lambda: sum(map(_closed_by_server, more)) == 10)
        assert sum(map(_closed_by_server, flood)) == 30
    finally:
        for s in flood + more:
            s.close()
    # Freed slots are usable again.
    out = await attempt(
        srv.url, start_message("echo", "again"), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert out.stdout == b"again\n"


def _nofile(pid: int) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no Max open files line")


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one(no_leaked_children: None) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsep_server", "--port", "0", "--insecure-no-auth"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        # Started the way a login shell or an old init would: a low soft limit.
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"wsep-server: serving ")
        soft_now, hard_now = _nofile(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert proc.stdout is not None
        proc.stdout.close()
    assert hard_now == (str(hard) if hard != resource.RLIM_INFINITY else "unlimited")
    assert int(soft_now) > 256
    if hard != resource.RLIM_INFINITY:
        assert soft_now == hard_now


async def test_loose_audit_log_and_record_dir_are_made_private(
    no_leaked_children: None,
    start_server_process: Callable[..., Any],
    layout: Any,
    tmp_path: Path,
) -> None:
    audit = tmp_path / "audit.jsonl"
    audit.write_text("")
    audit.chmod(0o644)
    layout.record_dir.mkdir()
    layout.record_dir.chmod(0o755)
    start_server_process(
        "--policy", str(layout.policy),
        "--audit-log", str(audit),
        "--record-dir", str(layout.record_dir),
        env={"WSEP_TOKEN": TOKEN},
    )  # fmt: skip
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.record_dir.stat().st_mode) == 0o700


async def test_a_rotated_audit_log_is_reopened_private(tmp_path: Path) -> None:
    from wsep_server.audit import AuditLog
    from wsep_server.hooks import ConnectionRecord

    path = tmp_path / "audit.jsonl"
    path.write_text("")
    path.chmod(0o644)  # e.g. created by logrotate with a loose mode
    log = AuditLog(path)
    await log.start()
    try:
        await log.on_end(ConnectionRecord(id="x", identity=None, peer="127.0.0.1"))
        await asyncio.wait_for(log.wait_written(1), TIMEOUT)
    finally:
        await log.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
