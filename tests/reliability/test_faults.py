"""Faults: killed clients, a terminated server, stubborn children, escaping grandchildren,
and a peer that silently stops responding. Nothing may be left running or unreaped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from support import scaled
from support.proc import (
    descendants,
    fd_count,
    fds_settled,
    live_in_session,
    proc_stat,
    wait_for_no_children,
    wait_until_gone,
    zombies,
)
from support.rawws import RawWebSocket
from support.reliability import Serve, record
from support.tcpproxy import FreezableProxy
from support.wire import collect, expect_close, header, pid_of, port_of, start_bytes
from wsep_protocol import SUBPROTOCOL_V2

#: A client with no dependencies (it starts fast): upgrade, start a command that
#: streams forever, read until output flows, print the pid, then block reading nothing.
KILLED_CLIENT = textwrap.dedent(
    r"""
    import base64, json, os, socket, struct, sys, time
    host, port = sys.argv[1], int(sys.argv[2])
    s = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    buf = buf.split(b"\r\n\r\n", 1)[1]
    start = json.dumps({"type": "start", "command": {"command": "yes", "args": ["stream"]}})
    payload = start.encode()
    s.sendall(struct.pack("!BBH", 0x82, 0x80 | 126, len(payload)) + b"\0\0\0\0" + payload)
    def read_exact(n):
        global buf
        while len(buf) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("server closed")
            buf += chunk
        out, buf = buf[:n], buf[n:]
        return out
    pid, got = None, 0
    while got < 100000:
        b1, b2 = read_exact(2)
        n = b2 & 0x7F
        if n == 126:
            n = struct.unpack("!H", read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", read_exact(8))[0]
        msg = read_exact(n)
        if pid is None:
            pid = json.loads(msg.split(b"\n", 1)[0])["pid"]
        else:
            got += len(msg)
    print(pid, flush=True)
    time.sleep(3600)  # SIGKILLed here, mid-stream, with the server still sending
    """
)


async def test_client_sigkilled_mid_stream(no_leaked_children: None, serve: Serve) -> None:
    """A client SIGKILLed while output streams: the process ends, no zombie, fds stable."""
    url = await serve()
    port = port_of(url)
    rounds = scaled(10, 100)
    fds_before = fd_count()
    worst = 0.0
    for _ in range(rounds):
        client = subprocess.Popen(
            [sys.executable, "-c", KILLED_CLIENT, "127.0.0.1", str(port)],
            stdout=subprocess.PIPE,
        )
        assert client.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(client.stdout.readline), 30)
        pid = int(line)
        assert live_in_session(pid), "the command should be running"
        client.kill()
        await asyncio.to_thread(client.wait, 30)
        client.stdout.close()
        t0 = time.monotonic()
        assert await wait_until_gone(pid, timeout=30) == []
        worst = max(worst, time.monotonic() - t0)
    assert await wait_for_no_children() == []
    assert zombies() == []
    fds_after = await fds_settled(fds_before, 3)
    assert fds_after <= fds_before + 3, (fds_before, fds_after)
    record(
        "faults:client_sigkill",
        kills=rounds,
        worst_cleanup_s=round(worst, 3),
        fds_before=fds_before,
        fds_after=fds_after,
        leaked=0,
    )


async def test_server_sigterm_with_running_sessions(
    no_leaked_children: None, start_server_process: Any
) -> None:
    """SIGTERM with 50 sessions: each gets a close with a reason, each child ends in time."""
    grace = 5.0
    srv = start_server_process("--grace-period", str(grace), "--log-level", "warning")
    sessions = scaled(50, 50)
    clients: list[tuple[RawWebSocket, int]] = []
    for i in range(sessions):
        ws = await RawWebSocket.connect(srv.url, subprotocols=[SUBPROTOCOL_V2] if i % 2 else [])
        await ws.send_message(start_bytes("sleep", "600"))
        clients.append((ws, await pid_of(ws)))
    assert len(descendants(srv.proc.pid)) == sessions
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    closes = await asyncio.gather(*(expect_close(ws) for ws, _ in clients))
    closed_after = time.monotonic() - t0
    for ws, _ in clients:
        await ws.aclose()
    rc = await asyncio.to_thread(srv.proc.wait, 30)
    exited_after = time.monotonic() - t0
    left = [pid for _, pid in clients if live_in_session(pid)]
    assert rc == 0
    assert left == []
    for code, reason in closes:
        assert (code, bool(reason)) == (1001, True), (code, reason)
    assert exited_after < grace + 10, exited_after
    record(
        "faults:server_sigterm",
        sessions=sessions,
        grace_s=grace,
        all_closed_after_s=round(closed_after, 3),
        server_exited_after_s=round(exited_after, 3),
        reasons=sorted({r for _, r in closes}),
        leaked=len(left),
    )


async def test_child_ignoring_sigterm_is_killed_after_grace(
    no_leaked_children: None, serve: Serve, tmp_path: Path
) -> None:
    from wsep_server.local import LocalExecer

    grace = 1.0
    url = await serve(execer=LocalExecer(grace_period=grace, output_linger=0.5))
    marker = tmp_path / "term"
    script = f"trap 'echo TERM >> {marker}' TERM; echo ready; while :; do sleep 0.05; done"
    ws = await RawWebSocket.connect(url)
    await ws.send_message(start_bytes("sh", "-c", script))
    pid = await pid_of(ws)
    _, msg = await ws.recv_message()
    assert msg.endswith(b"ready\n")
    t0 = time.monotonic()
    await ws.close(1000, "done")
    await ws.recv_close()
    await ws.aclose()
    assert await wait_until_gone(pid, timeout=grace + 15) == []
    gone_after = time.monotonic() - t0
    assert marker.read_text().startswith("TERM")  # it got SIGTERM, ignored it, then died
    record("faults:ignores_sigterm", grace_s=grace, gone_after_s=round(gone_after, 3))


async def test_grandchild_holding_stdout(no_leaked_children: None, serve: Serve) -> None:
    """A background grandchild keeps stdout open: exit_code still comes, and it is killed."""
    url = await serve()
    ws = await RawWebSocket.connect(url)
    await ws.send_message(start_bytes("sh", "-c", "sleep 600 & echo started; exit 3"))
    t0 = time.monotonic()
    res = await asyncio.wait_for(collect(ws), 30)
    got_exit_after = time.monotonic() - t0
    await ws.aclose()
    assert res.stdout == b"started\n"
    assert (res.exit or {}).get("exit_code") == 3
    assert res.types[-1] == "exit_code"
    assert res.pid is not None
    assert await wait_until_gone(res.pid) == []  # the sleep (same session) is gone too
    record("faults:grandchild_holds_stdout", exit_after_s=round(got_exit_after, 3))


async def test_daemonized_grandchild_holding_stdout(
    no_leaked_children: None, serve: Serve, tmp_path: Path
) -> None:
    """A grandchild that calls setsid escapes the session: the client still gets its
    output and exit_code (after the output linger), and the server goes on serving.

    Such a daemon is outside the session the execer cleans up; it is ended here.
    """
    url = await serve()
    pidfile = tmp_path / "daemon.pid"
    script = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 600' & echo started; exit 4"
    ws = await RawWebSocket.connect(url)
    await ws.send_message(start_bytes("sh", "-c", script))
    t0 = time.monotonic()
    res = await asyncio.wait_for(collect(ws), 30)
    got_exit_after = time.monotonic() - t0
    await ws.aclose()
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    daemon = int(pidfile.read_text())
    try:
        assert res.stdout == b"started\n"
        assert (res.exit or {}).get("exit_code") == 4
        assert res.types[-1] == "exit_code"
        ws = await RawWebSocket.connect(url)
        await ws.send_message(start_bytes("echo", "still serving"))
        assert (await collect(ws)).stdout == b"still serving\n"
        await ws.aclose()
    finally:
        os.kill(daemon, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (st := proc_stat(daemon)) is not None and st[0] != "Z":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    record("faults:daemon_holds_stdout", exit_after_s=round(got_exit_after, 3))


async def test_frozen_peer_detected_by_heartbeat(no_leaked_children: None, serve: Serve) -> None:
    """A proxy that stops forwarding and reading: the server's heartbeat notices within
    its interval, closes, and the process is cleaned up."""
    from wsep_server import ServerConfig

    heartbeat = 0.5
    url = await serve(config=ServerConfig(heartbeat=heartbeat))
    port = port_of(url)
    proxy = await FreezableProxy.start("127.0.0.1", port)
    try:
        ws = await RawWebSocket.connect(f"ws://127.0.0.1:{proxy.port}/")
        await ws.send_message(start_bytes("sh", "-c", "echo up; exec sleep 600"))
        pid = await pid_of(ws)
        _, msg = await ws.recv_message()
        assert header(msg)["type"] == "stdout"
        t0 = time.monotonic()
        proxy.freeze()
        assert await wait_until_gone(pid, timeout=30) == []
        detected_after = time.monotonic() - t0
        ws.abort()
    finally:
        await proxy.aclose()
    # aiohttp pings every `heartbeat` s and gives up when no pong came within half of it.
    assert detected_after < 2 * heartbeat + 10, detected_after
    record("faults:frozen_peer", heartbeat_s=heartbeat, cleaned_up_after_s=round(detected_after, 3))


async def test_frozen_server_detected_by_client_heartbeat(
    no_leaked_children: None, serve: Serve
) -> None:
    """The same from the client SDK's side: its heartbeat turns a frozen server into
    ConnectionLost instead of a hang."""
    from wsep_client import ConnectionLost, RemoteExecer
    from wsep_server import ServerConfig

    url = await serve(config=ServerConfig(heartbeat=None))
    port = port_of(url)
    proxy = await FreezableProxy.start("127.0.0.1", port)
    try:
        async with RemoteExecer(f"ws://127.0.0.1:{proxy.port}/", heartbeat=0.5) as execer:
            process = await execer.create_process("sh", "-c", "echo up; exec sleep 600")
            assert await process.stdout.readline() == b"up\n"
            t0 = time.monotonic()
            proxy.freeze()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except ConnectionLost:
                pass
            else:
                raise AssertionError("wait() returned although the server froze")
            detected_after = time.monotonic() - t0
            await process.close()
        pid = process.pid
    finally:
        await proxy.aclose()
    # With the proxy gone the server sees the drop and ends the process.
    assert await wait_until_gone(pid, timeout=30) == []
    record("faults:frozen_server_client_side", detected_after_s=round(detected_after, 3))


async def test_heartbeats_both_ways_keep_an_idle_session(
    no_leaked_children: None, serve: Serve
) -> None:
    """The session answers pings itself (autoping off): a client's heartbeat pings get
    their pongs, and the server's own heartbeat still sees the client's pongs, so a
    session that is quiet for many heartbeat intervals is kept, not cut off."""
    import aiohttp
    from wsep_server import ServerConfig

    heartbeat = 0.2
    url = await serve(config=ServerConfig(heartbeat=heartbeat))
    async with aiohttp.ClientSession() as http, http.ws_connect(url, heartbeat=heartbeat) as ws:
        await ws.send_bytes(start_bytes("sh", "-c", "sleep 2; echo still here"))
        messages = []
        async for msg in ws:
            assert msg.type is aiohttp.WSMsgType.BINARY, msg
            messages.append(msg.data)
            if msg.data.startswith(b'{"type":"exit_code"'):
                break
    assert messages[1] == b'{"type":"stdout"}\nstill here\n'
    assert header(messages[-1])["exit_code"] == 0
