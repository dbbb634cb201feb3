"""systemd protocols against a real server: sd_notify datagrams, watchdog, socket activation."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import wsep_client
from support.ops import TIMEOUT, Server, clean_env
from wsep_server import systemd


class NotifyListener:
    """The supervisor's end of ``NOTIFY_SOCKET``: a bound datagram socket."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.received: list[dict[str, str]] = []

    def next_with(self, key: str, timeout: float = TIMEOUT) -> dict[str, str]:
        """The next datagram that sets ``key`` (others are kept in ``received``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key} datagram; got {self.received}")
            self.sock.settimeout(left)
            data = self.sock.recv(4096).decode()
            fields = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
            self.received.append(fields)
            if key in fields:
                return fields


@pytest.fixture(params=["path", pytest.param("abstract", marks=pytest.mark.once)])
def listener(request: pytest.FixtureRequest, socket_dir: Path) -> Iterator[NotifyListener]:
    if request.param == "path":
        address = str(socket_dir / "notify.sock")
    else:
        address = f"@wsep-test-notify-{os.getpid()}-{time.monotonic_ns()}"
    found = NotifyListener(address)
    yield found
    found.sock.close()


def test_ready_reloading_and_stopping_reach_the_notify_socket(
    listener: NotifyListener, run_server: Callable[..., Server]
) -> None:
    srv = run_server("--port", "0", env=clean_env(NOTIFY_SOCKET=listener.address))
    ready = listener.next_with("READY")
    assert ready["READY"] == "1"
    assert ready["MAINPID"] == str(srv.proc.pid)
    assert ready["STATUS"].startswith("wsep-server: serving ws://127.0.0.1:")
    srv.signal(signal.SIGHUP)
    reloading = listener.next_with("RELOADING")
    assert reloading["RELOADING"] == "1"
    stamp = int(reloading["MONOTONIC_USEC"])
    assert 0 < stamp <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert listener.next_with("READY")["READY"] == "1"  # reload finished
    srv.signal(signal.SIGTERM)
    assert listener.next_with("STOPPING")["STOPPING"] == "1"
    assert srv.proc.wait(TIMEOUT) == 0


async def test_watchdog_pings_while_serving(
    socket_dir: Path, run_server: Callable[..., Server]
) -> None:
    listener = NotifyListener(str(socket_dir / "notify.sock"))
    try:
        srv = run_server(
            "--port", "0",
            env=clean_env(NOTIFY_SOCKET=listener.address, WATCHDOG_USEC="200000"),
        )  # fmt: skip
        await asyncio.to_thread(listener.next_with, "WATCHDOG")
        await asyncio.to_thread(listener.next_with, "WATCHDOG")
        async with wsep_client.connect(srv.url) as remote:
            result = await remote.run("env", timeout=60)
        # Commands cannot speak to systemd in the server's name.
        assert b"NOTIFY_SOCKET" not in result.stdout
        assert b"WATCHDOG_USEC" not in result.stdout
    finally:
        listener.sock.close()


def test_watchdog_only_for_this_process() -> None:
    mine = str(os.getpid())
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "3000000"}) == 1.5
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": mine}) == 1.5
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}) is None
    assert systemd.watchdog_interval({}) is None
    assert not systemd.notify("READY=1", environ={})


_ACTIVATE = """
import os, sys
os.dup2(int(sys.argv[1]), 3)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = "1"
os.execv(sys.executable, [sys.executable, "-m", "wsep_server", *sys.argv[2:]])
"""


async def test_socket_activation_serves_the_passed_socket(
    run_server: Callable[..., Server],
) -> None:
    """A listening socket bound by the parent (as systemd's .socket unit does) arrives as fd 3."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    port = listening.getsockname()[1]
    try:
        srv = run_server(
            "--port", "1",  # ignored: the socket is systemd's
            command=[sys.executable, "-c", _ACTIVATE, str(listening.fileno())],
            pass_fds=(listening.fileno(),),
        )  # fmt: skip
    finally:
        listening.close()  # the server holds its own copy
    assert srv.url == f"ws://127.0.0.1:{port}/"
    async with wsep_client.connect(srv.url) as remote:
        result = await remote.run("env", timeout=60)
    assert result.returncode == 0
    assert b"LISTEN_PID" not in result.stdout  # not passed on to commands
    assert b"LISTEN_FDS" not in result.stdout


def test_listen_fds_meant_for_another_process_are_ignored() -> None:
    env = {"LISTEN_PID": "1", "LISTEN_FDS": "1"}
    assert systemd.listen_sockets(env) == []
    assert env == {}
