"""``wsep run -- true`` as a shell loop feels it: direct (cold) and through a control master.

Three figures measured round by round in the same run, so they share the
machine's ups and downs: ``python -c pass`` (the floor of any Python CLI),
a direct ``wsep run`` (every call imports the SDK and aiohttp: the cold
figure), and a call through a running control master (the thin client:
the warm figure, target p50 ≤ 40 ms). Plus the one first call that starts
the master (``--control yes``). Bytecode is written on the first calls, as
an installed package has it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING

from .results import Figure, Target

if TYPE_CHECKING:
    from .harness import Harness

__all__ = ["run"]

#: The p50 the thin client must reach through a warm master, in ms.
WARM_TARGET_MS = 40.0


def _wsep() -> list[str]:
    from .harness import which

    script = which("wsep")
    return [script] if script else [sys.executable, "-m", "wsep_client"]


def run(h: Harness) -> None:
    if not h.sdk:
        return
    n = h.cfg.cli_count
    floor = h.figure(
        "baseline.python_startup.cli_rounds",
        "baseline",
        f"`python -c pass` in the same rounds (per call, median of {n})",
        "ms",
        "lower",
    )
    cold = h.figure(
        "cli.run_true.direct",
        "cli",
        f"`wsep run -- true`, direct: imports the SDK every call (cold; median of {n})",
        "ms",
        "lower",
        baseline=floor,
    )
    warm = h.figure(
        "cli.run_true.control",
        "cli",
        f"`wsep run -- true` through a running control master (warm; median of {n})",
        "ms",
        "lower",
        baseline=floor,
        target=Target("<=", WARM_TARGET_MS),
    )
    first = h.figure(
        "cli.run_true.first_control_call",
        "cli",
        "the first `wsep run --control yes -- true`: starts the master, then runs through it",
        "ms",
        "lower",
        baseline=floor,
    )

    def body() -> None:
        with h.server() as srv, tempfile.TemporaryDirectory(prefix="wsepb-") as directory:
            env = {k: v for k, v in os.environ.items() if not k.startswith("WSEP_")}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env.update(WSEP_URL=srv.url, WSEP_CONTROL_DIR=directory)
            wsep = _wsep()

            def timed(argv: list[str]) -> float:
                t0 = time.perf_counter()
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env)
                elapsed = (time.perf_counter() - t0) * 1000
                if done.returncode != 0:
                    raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr!r}")
                return elapsed

            python = [sys.executable, "-c", "pass"]
            direct = [*wsep, "run", "--control", "no", "--", "true"]
            control = [*wsep, "run", "--control", "yes", "--", "true"]
            timed(direct)  # writes bytecode
            try:
                first.samples.append(timed(control))
                h.log(f"  {' '.join(control)} (x{n}, against direct and `python -c pass`)")
                for _ in range(n):
                    floor.samples.append(timed(python))
                    cold.samples.append(timed(direct))
                    warm.samples.append(timed(control))
            finally:
                subprocess.run([*wsep, "control", "stop"], capture_output=True, env=env, timeout=60)
            warm.context["argv"] = control
            cold.context["argv"] = direct

    figures: list[Figure] = [floor, cold, warm, first]
    h.attempt(figures, body, keep_measured=True)
