"""``--profile``: a py-spy flame graph of a server process while it is under test."""

from __future__ import annotations

import pathlib
import shutil
import signal
import subprocess
import sys

__all__ = ["Profiler"]


class Profiler:
    """``py-spy record`` attached to ``pid`` until :meth:`stop` (needs ptrace rights)."""

    def __init__(self, pid: int, svg: pathlib.Path, rate: int = 200) -> None:
        spy = shutil.which("py-spy") or str(pathlib.Path(sys.executable).parent / "py-spy")
        svg.parent.mkdir(parents=True, exist_ok=True)
        self.svg = svg
        self.proc = subprocess.Popen(
            [spy, "record", "-p", str(pid), "-r", str(rate), "-o", str(svg), "--nonblocking"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> str:
        """Stop recording; the path of the flame graph, or why there is none."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        if self.svg.exists():
            return str(self.svg)
        return "no profile: " + err.decode(errors="replace").strip()[-200:]
