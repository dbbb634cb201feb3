"""Worker processes as seen from the harness: one-off, or shared by several scenarios."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import tempfile
import time
from typing import IO, Any

from .server import ROOT
from .worker import MARKER

__all__ = ["SharedWorker", "WorkerError", "run_fresh"]


class WorkerError(RuntimeError):
    pass


def run_fresh(params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one scenario in a process of its own (its RSS and CPU are the scenario's)."""
    scenario = params["scenario"]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.worker", json.dumps(params)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise WorkerError(f"{scenario}: timed out after {exc.timeout:.0f} s") from None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            result: dict[str, Any] = json.loads(line[len(MARKER) :])
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    raise WorkerError(f"{scenario}: exit {proc.returncode}: {' | '.join(tail)}")


class SharedWorker:
    """``python -m bench.worker --serve``: one request per line, started on first use."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._log: IO[bytes] | None = None

    def run(self, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self._proc is None or self._proc.poll() is not None:
            self.close()
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "bench.worker", "--serve"],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                text=True,
            )
        proc = self._proc
        assert proc.stdin is not None
        assert proc.stdout is not None
        scenario = params["scenario"]
        proc.stdin.write(json.dumps(params) + "\n")
        proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([proc.stdout], [], [], left)
            if not ready:
                self.close()
                raise WorkerError(f"{scenario}: timed out after {timeout:.0f} s")
            line = proc.stdout.readline()
            if not line:
                self.close()
                raise WorkerError(f"{scenario}: the shared worker exited")
            if line.startswith(MARKER):
                result: dict[str, Any] = json.loads(line[len(MARKER) :])
                if "error" in result and "runs" not in result:
                    raise WorkerError(f"{scenario}: {result['error']}")
                return result

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
