"""A real ``wsep-server`` process whose log can be waited on while it runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from support.proc import stop_process

TIMEOUT = 60.0
TOKEN_A = "token-a-0123456789abcdef0123"
TOKEN_B = "token-b-0123456789abcdef0123"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without WSEP_* and systemd variables, plus ``extra``."""
    drop = ("WSEP_", "NOTIFY_SOCKET", "LISTEN_", "WATCHDOG_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def wait_until(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> Any:
    """Poll ``condition`` until it is truthy (no fixed sleeps as synchronisation)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


@dataclass
class Server:
    """``python -m wsep_server`` with its stderr in ``log``; ``stdout`` is the banner."""

    proc: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    http_url: str = ""
    banner: list[str] = field(default_factory=list)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, needle: str, count: int = 1, timeout: float = TIMEOUT) -> str:
        def found() -> bool:
            if self.proc.poll() is not None and self.text().count(needle) < count:
                raise AssertionError(f"server exited ({self.proc.returncode}): {self.text()}")
            return self.text().count(needle) >= count

        wait_until(found, f"{needle!r} in the server log", timeout)
        return self.text()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        return stop_process(self.proc, timeout=timeout)


def _read_banner(proc: subprocess.Popen[bytes], log: Path) -> str:
    out: IO[bytes] | None = proc.stdout
    assert out is not None
    first = out.readline().decode()
    if not first.startswith("wsep-server: serving "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"server did not start: {first!r} {log.read_text()}")
    return first


@pytest.fixture
def run_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: ``run_server(*args, env={...}, argv0=[...], pass_fds=(...))`` -> Server."""
    started: list[Server] = []

    def factory(
        *args: str,
        env: dict[str, str] | None = None,
        command: Sequence[str] | None = None,
        pass_fds: Sequence[int] = (),
        wait_healthy: bool = True,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> Server:
        log = tmp_path / f"server-{len(started)}.log"
        cmd = list(command) if command else [sys.executable, "-m", "wsep_server"]
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [*cmd, *args],
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                # Without authentication unless the test configures some: the
                # server would otherwise make a token of its own.
                env={"WSEP_INSECURE_NO_AUTH": "1", **(env if env is not None else clean_env())},
                cwd=str(cwd or tmp_path),
                pass_fds=tuple(pass_fds),
                user=user,
                group=None if user is None else _group_of(user),
                extra_groups=None if user is None else [],
            )
        srv = Server(proc, log)
        started.append(srv)
        first = _read_banner(proc, log)
        srv.banner.append(first)
        srv.url = first.split()[-1]
        hostport = srv.url.split("://", 1)[1].split("/", 1)[0]
        srv.http_url = ("https" if srv.url.startswith("wss") else "http") + "://" + hostport
        if wait_healthy and srv.http_url.startswith("http:"):
            wait_until(lambda: _healthy(srv.http_url), "/healthz")
        return srv

    yield factory
    for srv in started:
        srv.stop()
        if srv.proc.stdout is not None:
            srv.proc.stdout.close()


def _group_of(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def _healthy(http_url: str) -> bool:
    try:
        with urllib.request.urlopen(http_url + "/healthz", timeout=5) as r:
            return bool(r.status == 200)
    except OSError:
        return False
