"""The wsep server under test, as a separate process on loopback."""

from __future__ import annotations

import os
import pathlib
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import TracebackType

from .procs import free_port

__all__ = ["DEFAULT_SERVER_CMD", "DEFAULT_SERVER_CMD_V1", "ROOT", "ServerProcess"]

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: ``{python}`` and ``{port}`` are filled in. The v1-only server is the same
#: application with only protocol version 1 enabled (Go-identical); the
#: ``wsep-server`` CLI has no flag for that, see :mod:`bench.serve_v1`.
_ARGS = "--host 127.0.0.1 --port {port} --insecure-no-auth"
DEFAULT_SERVER_CMD = "{python} -m wsep_server " + _ARGS
DEFAULT_SERVER_CMD_V1 = "{python} -m bench.serve_v1 " + _ARGS


class ServerProcess:
    """Start a server from a command template, wait until it accepts, stop it on exit."""

    def __init__(self, template: str, *, startup_timeout: float = 30.0, tls: bool = False) -> None:
        self.tls = tls
        self.port = free_port()
        self.argv = shlex.split(template.format(python=shlex.quote(sys.executable), port=self.port))
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        # The server's log goes to a file: a pipe nobody drains would block it.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
            cwd=ROOT,
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}: {shlex.join(self.argv)}\n"
                    + self.log_text()[-2000:]
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"server did not listen within {self.startup_timeout} s"
                    ) from None
                time.sleep(0.02)
        return self

    def log_text(self) -> str:
        """What the server wrote to stdout and stderr so far."""
        fd = self.log.fileno()  # pread: the server shares the file offset
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        try:
            # Whatever the server left in its process group (it should leave nothing).
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
