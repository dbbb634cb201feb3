"""Latency: start → exit of `true`, keystroke echo through a TTY, a whole `wsep run`."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from .results import Figure, Target
from .stats import percentile

if TYPE_CHECKING:
    from .harness import Harness, Job

__all__ = ["run"]

STATS = ("p50", "p99")


def _fill(figs: dict[str, Figure], r: dict[str, Any]) -> None:
    for stat, fig in figs.items():
        fig.samples += [run[f"{stat}_ms"] for run in r["runs"]]


def run(h: Harness) -> None:
    from .harness import Job

    cfg, n = h.cfg, h.cfg.count

    def pair(name: str, group: str, text: str, **kw: Any) -> dict[str, Figure]:
        """A p50 and a p99 figure; ``kw`` maps to per-stat baselines and targets."""
        base: dict[str, Figure] = kw.get("baseline", {})
        targets: dict[str, Target] = kw.get("targets", {})
        return {
            stat: h.figure(
                f"{name}.{stat}",
                group,
                f"{text} ({stat} of {n})",
                "ms",
                "lower",
                baseline=base.get(stat),
                target=targets.get(stat),
            )
            for stat in STATS
        }

    spawn = pair("baseline.spawn_true", "baseline", "`true` started and reaped locally by asyncio")
    pty = pair("baseline.pty_echo", "baseline", "keystroke echo through a local PTY, same command")
    common: dict[str, Any] = {"count": n, "runs": 1, "warmup": cfg.warmup}

    def job(figs: dict[str, Figure], scenario: str, **params: Any) -> Job:
        return Job(
            list(figs.values()),
            lambda i: _fill(figs, h.worker(scenario, **common, **params)),
        )

    true_target = {"p50": Target("<=", 5)}
    tty_target = {"p99": Target("<=", 5)}
    # Every figure exists before anything can fail, so the results keep their shape.
    # (figures, scenario, server: "v2"/"v1", extra params)
    planned: list[tuple[dict[str, Figure], str, str, dict[str, Any]]] = []
    if h.raw:
        for v in (2, 1):
            figs = pair(
                f"latency.true.v{v}",
                "latency",
                f"start → exit of `true`, new WebSocket per process (raw client, v{v})",
                baseline=spawn,
                targets=true_target,
            )
            planned.append((figs, "ws_true", "v2", {"version": v}))
        tty = pair(
            "latency.tty_echo",
            "latency",
            "keystroke echo round trip through a TTY at rest (raw client, v2)",
            baseline=pty,
            targets=tty_target,
        )
        planned.append((tty, "ws_tty_echo", "v2", {"version": 2}))
    if h.sdk:
        for v in (2, 1):
            figs = pair(
                f"latency.true.v{v}.sdk",
                "latency",
                "start → exit of `true`: `await remote.run('true')` on an open SDK client "
                + ("(v1-only server)" if v == 1 else "(v2)"),
                baseline=spawn,
                targets=true_target,
            )
            planned.append((figs, "sdk_true", f"v{v}", {}))
        tty = pair(
            "latency.tty_echo.sdk",
            "latency",
            "keystroke echo round trip through a TTY at rest (client SDK)",
            baseline=pty,
            targets=tty_target,
        )
        planned.append((tty, "sdk_tty_echo", "v2", {}))
    pystart, cli = _process_figures(h)

    def body() -> None:
        v1_server = h.server(v1_only=True) if h.sdk else contextlib.nullcontext()
        with h.server() as srv, v1_server as srv1:
            urls = {"v2": srv.url, "v1": srv1.url if srv1 is not None else ""}
            jobs = [job(spawn, "spawn_true"), job(pty, "pty_echo")]
            jobs += [
                job(figs, scenario, url=urls[server], **params)
                for figs, scenario, server, params in planned
            ]
            h.rounds(jobs, cfg.latency_runs)
            _measure_processes(h, pystart, cli, srv.url)

    every = [*spawn.values(), *pty.values(), pystart]
    every += [fig for figs, _, _, _ in planned for fig in figs.values()]
    h.attempt(every + ([cli] if cli else []), body, keep_measured=True)


def _process_figures(h: Harness) -> tuple[Figure, Figure | None]:
    cfg = h.cfg
    pystart = h.figure(
        "baseline.python_startup",
        "baseline",
        f"`python -c pass`, the floor of any Python CLI (p50 of {cfg.cli_count})",
        "ms",
        "lower",
    )
    cli = None
    if h.sdk:
        cli = h.figure(
            "latency.cli_run_true.p50",
            "latency",
            f"a whole `wsep run -- true` process, start to exit (p50 of {cfg.cli_count})",
            "ms",
            "lower",
            baseline=pystart,
        )
    return pystart, cli


def _measure_processes(h: Harness, pystart: Figure, cli: Figure | None, url: str) -> None:
    """A whole CLI process, against the interpreter's own start-up time."""
    cfg = h.cfg

    def timed(argv: list[str]) -> list[float]:
        times = []
        for _ in range(cfg.cli_count):
            t0 = time.perf_counter()
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            times.append((time.perf_counter() - t0) * 1000)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr}")
        return times

    h.attempt(
        [pystart],
        lambda: pystart.samples.append(percentile(timed([sys.executable, "-c", "pass"]), 50)),
    )
    if cli is None:
        return

    def run_cli() -> None:
        from .sdk_scenarios import cli_argv

        argv = cli_argv(url, ["true"])
        h.log(f"  {' '.join(argv)} (x{cfg.cli_count})")
        times = timed(argv)
        cli.samples.append(percentile(times, 50))
        cli.context["p99_ms"] = percentile(times, 99)
        cli.context["argv"] = argv

    h.attempt([cli], run_cli)
