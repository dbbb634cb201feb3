"""Throughput: bytes out of stdout and into stdin, v1 mode and negotiated v2, vs a pipe."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .config import MiB
from .procs import rss_mib
from .results import Figure, Target

if TYPE_CHECKING:
    from .harness import Harness

__all__ = ["run"]

TARGETS = {
    ("stdout", 2): Target(">=", 900),
    ("stdin", 2): Target(">=", 800),
    ("stdout", 1): Target(">=", 500),
    ("stdin", 1): Target(">=", 500),
}
MODE = {1: "v1 mode (64,000-byte messages)", 2: "negotiated v2 (1 MiB messages)"}


@contextlib.contextmanager
def tcp_sink() -> Iterator[int]:
    """A byte-counting TCP peer in its own process; yields its port."""
    from .harness import ROOT

    helper = subprocess.Popen(
        [sys.executable, "-m", "bench.tcphelper", "sink"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert helper.stdout is not None
        yield int(helper.stdout.readline())
    finally:
        helper.kill()
        helper.wait()
        if helper.stdout is not None:
            helper.stdout.close()


def run(h: Harness) -> None:
    from .harness import Job, median_of

    cfg = h.cfg
    mib = cfg.size / MiB
    size_txt = f"{mib:g} MiB"
    pipe = h.figure(
        "baseline.pipe",
        "baseline",
        f"{size_txt} through a direct pipe: head -c | cat > /dev/null",
        "MiB/s",
        "higher",
    )
    tcp = h.figure(
        "baseline.tcp",
        "baseline",
        f"{size_txt} over one raw loopback TCP connection (1 MiB sends), count checked",
        "MiB/s",
        "higher",
    )
    what = {
        "stdout": f"{size_txt} out of stdout (head -c {cfg.size} /dev/zero), count checked",
        "stdin": f"{size_txt} into stdin (wc -c), count checked",
    }
    cpu: dict[str, dict[str, list[float]]] = {}

    def pipe_once(i: int) -> None:
        t0 = time.perf_counter()
        subprocess.run(["sh", "-c", f"head -c {cfg.size} /dev/zero | cat > /dev/null"], check=True)
        pipe.samples.append(mib / (time.perf_counter() - t0))

    # Every figure exists before anything can fail, so the results keep their shape.
    measured: list[tuple[Figure, str, int]] = []
    for client in h.clients:
        for direction in ("stdout", "stdin"):
            for version in (2, 1):
                suffix = "" if client == "raw" else ".sdk"
                fig = h.figure(
                    f"throughput.{direction}.v{version}{suffix}",
                    "throughput",
                    f"{what[direction]}; {MODE[version]}; "
                    + ("raw WebSocket client" if client == "raw" else "client SDK"),
                    "MiB/s",
                    "higher",
                    baseline=pipe,
                    target=TARGETS[(direction, version)],
                )
                cpu[fig.name] = {"server_cpu_s": [], "client_cpu_s": []}
                measured.append((fig, f"{'ws' if client == 'raw' else 'sdk'}_{direction}", version))
    server_hwm: list[float] = []

    def body() -> None:
        with h.server() as srv, tcp_sink() as port:

            def tcp_once(i: int) -> None:
                r = h.worker("tcp_throughput", port=port, size=cfg.size, runs=1, warmup=int(i == 0))
                tcp.samples += [mib / run["seconds"] for run in r["runs"]]

            jobs = [Job([pipe], pipe_once), Job([tcp], tcp_once)]
            for fig, scenario, version in measured:

                def once(
                    i: int, fig: Figure = fig, scenario: str = scenario, v: int = version
                ) -> None:
                    r = h.worker(
                        scenario,
                        url=srv.url,
                        version=v,
                        size=cfg.size,
                        runs=1,
                        warmup=int(i == 0),
                        server_pid=srv.pid,
                    )
                    fig.samples += [mib / run["seconds"] for run in r["runs"]]
                    for key, values in cpu[fig.name].items():
                        values += [run[key] for run in r["runs"]]

                jobs.append(Job([fig], once))
            h.rounds(jobs, cfg.runs)
            server_hwm.append(rss_mib(srv.pid, "VmHWM"))

    h.attempt([pipe, tcp, *(fig for fig, _, _ in measured)], body, keep_measured=True)
    for fig in h.figures:
        if fig.name in cpu:
            for key, values in cpu[fig.name].items():
                fig.context[key] = median_of(values)
            if server_hwm:
                fig.context["server_hwm_mib_after_group"] = server_hwm[0]
