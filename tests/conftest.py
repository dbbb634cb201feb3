"""Fixtures shared by every test area.

Servers (all on 127.0.0.1, random ports, real processes):

- ``make_server``: async factory. ``url = await make_server(**create_app_kwargs)``
  starts ``wsep_server.create_app(**kwargs)`` in this event loop and returns its
  ``ws://127.0.0.1:PORT/`` URL (``path=`` is honoured). Extra keyword
  ``app_factory=`` replaces ``create_app`` (e.g. to add your own routes);
  ``runner_kwargs=`` and ``backlog=`` go to aiohttp's ``AppRunner`` and ``TCPSite``.
  Everything is shut down (sessions ended, processes reaped) after the test.
  By default the session log line is off (``log_connections=False``) and the
  execer is ``LocalExecer(grace_period=2.0, output_linger=0.5)``.
- ``wsep_server``: the URL of one default server (``await make_server()``).
- ``start_server_process``: factory, ``srv = start_server_process(*cli_args, env=...)``
  runs the real ``python -m wsep_server --port 0 ...`` as a subprocess (with
  ``WSEP_INSECURE_NO_AUTH=1`` unless ``env`` says otherwise) and waits
  until ``/healthz`` answers; ``srv.url``, ``srv.http_url``, ``srv.proc``,
  ``srv.stop()`` (SIGTERM and wait, returns the exit code), ``srv.output()``.
- ``server_process``: one default such server.

Process hygiene:

- ``no_leaked_children``: after the test, waits (up to 15 s) until this test
  process has no child processes left (zombies included), then asserts it.
  List it before the server fixtures (``def test_x(no_leaked_children, wsep_server)``)
  so that it is torn down after them.
  Helpers for finer checks live in ``tests/support/proc.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import REPO
from support.proc import stop_process

MakeServer = Callable[..., Awaitable[str]]


@pytest.fixture
async def make_server() -> AsyncIterator[MakeServer]:
    from aiohttp import web
    from wsep_server import create_app
    from wsep_server.local import LocalExecer

    runners: list[web.AppRunner] = []

    async def factory(**kwargs: Any) -> str:
        app_factory = kwargs.pop("app_factory", create_app)
        kwargs.setdefault("log_connections", False)
        if "execer" not in kwargs:
            kwargs["execer"] = LocalExecer(grace_period=2.0, output_linger=0.5)
        path = kwargs.get("path", "/")
        runner_kwargs = {"shutdown_timeout": 10.0, **kwargs.pop("runner_kwargs", {})}
        backlog = kwargs.pop("backlog", 128)
        app = app_factory(**kwargs)
        runner = web.AppRunner(app, handle_signals=False, **runner_kwargs)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=backlog)
        await site.start()
        port = runner.addresses[0][1]
        return f"ws://127.0.0.1:{port}{path}"

    yield factory
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def wsep_server(make_server: MakeServer) -> str:
    return await make_server()


@dataclass
class ServerProcess:
    """A ``python -m wsep_server`` child process."""

    proc: subprocess.Popen[bytes]
    url: str
    http_url: str
    banner: list[str] = field(default_factory=list)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def output(self) -> str:
        """The server's stderr (its log); only after ``stop()``."""
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")


@pytest.fixture
def start_server_process() -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def factory(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        # Without authentication unless a test configures some (or sets the
        # variable to ""): the server would otherwise make a token of its own.
        full_env = {"WSEP_INSECURE_NO_AUTH": "1", **os.environ, **(env or {})}
        cmd = [sys.executable, "-m", "wsep_server", "--host", "127.0.0.1", "--port", "0"]
        proc = subprocess.Popen(
            [*cmd, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=REPO,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        if not first.startswith("wsep-server: serving "):
            proc.kill()
            proc.wait()
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"server did not start: {first!r} {err}")
        url = first.split()[-1]
        hostport = url.split("://", 1)[1].split("/", 1)[0]
        scheme = "https" if url.startswith("wss") else "http"
        srv = ServerProcess(proc, url, f"{scheme}://{hostport}", [first])
        started.append(srv)
        if scheme == "http":
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(srv.http_url + "/healthz", timeout=5) as r:
                        if r.status == 200:
                            break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        return srv

    yield factory
    for srv in started:
        stop_process(srv.proc)
        for stream in (srv.proc.stdout, srv.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def server_process(start_server_process: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server_process()


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short private directory for Unix sockets.

    ``tmp_path`` can be deeper than a socket path may be long (107 bytes):
    under nox on CI it already is.
    """
    path = Path(tempfile.mkdtemp(prefix="wsep-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def no_leaked_children() -> Iterator[None]:
    from support.proc import children_of

    before = set(children_of())
    yield
    deadline = time.monotonic() + 15
    while True:
        left = set(children_of()) - before
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not left, f"child processes left behind: {sorted(left)}"
