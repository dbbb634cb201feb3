"""A real ``wsep-server`` process whose log can be waited on while it runs."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from support.cli import cli_env
from support.proc import stop_process

__all__ = ["TIMEOUT", "TOKEN_A", "TOKEN_B", "Server", "clean_env", "spawn_server", "wait_until"]

TIMEOUT = 60.0
TOKEN_A = "token-a-0123456789abcdef0123"
TOKEN_B = "token-b-0123456789abcdef0123"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without WSEP_* and systemd variables, plus ``extra``."""
    return cli_env(extra, drop=("NOTIFY_SOCKET", "LISTEN_", "WATCHDOG_"))


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

    def wait_started(self, *, healthy: bool = True) -> None:
        """Read the banner (the URL it serves); over plain HTTP, wait for ``/healthz``."""
        first = _read_banner(self.proc, self.log)
        self.banner.append(first)
        self.url = first.split()[-1]
        hostport = self.url.split("://", 1)[1].split("/", 1)[0]
        self.http_url = ("https" if self.url.startswith("wss") else "http") + "://" + hostport
        if healthy and self.http_url.startswith("http:"):
            wait_until(lambda: _healthy(self.http_url), "/healthz")


def _read_banner(proc: subprocess.Popen[bytes], log: Path) -> str:
    out: IO[bytes] | None = proc.stdout
    assert out is not None
    first = out.readline().decode()
    if not first.startswith("wsep-server: serving "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"server did not start: {first!r} {log.read_text()}")
    return first


def spawn_server(
    log: Path,
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    command: Sequence[str] | None = None,
    pass_fds: Sequence[int] = (),
    user: str | None = None,
) -> Server:
    """``python -m wsep_server ARGS`` (or ``command ARGS``) with its stderr in ``log``;
    :meth:`Server.wait_started` waits for it to serve."""
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
            cwd=str(cwd),
            pass_fds=tuple(pass_fds),
            user=user,
            group=None if user is None else _group_of(user),
            extra_groups=None if user is None else [],
        )
    return Server(proc, log)


def _group_of(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def _healthy(http_url: str) -> bool:
    try:
        with urllib.request.urlopen(http_url + "/healthz", timeout=5) as r:
            return bool(r.status == 200)
    except OSError:
        return False
