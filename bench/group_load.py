"""Load: many concurrent sessions, and memory under a slow consumer."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .config import MiB
from .results import Figure, Target

if TYPE_CHECKING:
    from .harness import Harness

__all__ = ["concurrency", "slow_consumer"]


def concurrency(h: Harness) -> None:
    """N concurrent `cat` echo sessions vs. an asyncio TCP echo server; fresh processes."""
    from .harness import ROOT, Job, median_of

    cfg = h.cfg
    shape = f"{cfg.sessions} sessions, {cfg.payload}-byte echo loop for {cfg.duration:g} s"
    keys = {
        "mib_per_s": ("aggregate echo throughput", "MiB/s", "higher", None),
        "rtt_p99_ms": ("p99 round trip", "ms", "lower", None),
        "server_rss_mib": ("server peak RSS", "MiB", "lower", Target("<=", 300)),
        "per_session_kib": ("server memory per session", "KiB", "lower", None),
    }
    base = {
        k: h.figure(
            f"baseline.tcp_echo.{k}",
            "baseline",
            f"{desc}: asyncio TCP echo server process, {shape}",
            unit,
            better,
        )
        for k, (desc, unit, better, _) in keys.items()
    }

    extras: dict[str, dict[str, list[float]]] = {}

    def fill(figs: dict[str, Figure], r: dict[str, Any]) -> None:
        for k, fig in figs.items():
            fig.samples += [run[k] for run in r["runs"]]
            for extra in (
                "round_trips_per_s",
                "rtt_p50_ms",
                "setup_seconds",
                "server_cpu_s",
                "client_cpu_s",
                "server_rss_idle_mib",
            ):
                extras.setdefault(fig.name, {}).setdefault(extra, []).extend(
                    run[extra] for run in r["runs"]
                )

    # Every run gets a fresh server and a fresh client process, so that RSS at
    # rest, peak RSS and memory per session belong to that run alone.
    common = {
        "sessions": cfg.sessions,
        "duration": cfg.duration,
        "payload": cfg.payload,
        "runs": 1,
    }

    def run_tcp(i: int) -> None:
        helper = subprocess.Popen(
            [sys.executable, "-m", "bench.tcphelper", "echo"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert helper.stdout is not None
            port = int(helper.stdout.readline())
            fill(
                base,
                h.worker(
                    "tcp_concurrent_echo",
                    fresh=True,
                    port=port,
                    server_pid=helper.pid,
                    **common,
                ),
            )
        finally:
            helper.kill()
            helper.wait()
            if helper.stdout is not None:
                helper.stdout.close()

    jobs = [Job(list(base.values()), run_tcp)]
    for client in h.clients:
        suffix = "" if client == "raw" else ".sdk"
        figs = {
            k: h.figure(
                f"concurrency.{k}{suffix}",
                "concurrency",
                f"{desc}: {shape} through `cat` "
                f"({'raw client' if client == 'raw' else 'client SDK'}, v2)",
                unit,
                better,
                baseline=base[k],
                target=target,
            )
            for k, (desc, unit, better, target) in keys.items()
        }

        def run(i: int, figs: dict[str, Figure] = figs, client: str = client) -> None:
            with h.server() as srv:
                prefix = "ws" if client == "raw" else "sdk"
                fill(
                    figs,
                    h.worker(
                        f"{prefix}_concurrent_echo",
                        fresh=True,
                        url=srv.url,
                        version=2,
                        server_pid=srv.pid,
                        **common,
                    ),
                )

        jobs.append(Job(list(figs.values()), run))
    h.rounds(jobs, cfg.concurrency_runs)
    for fig in h.figures:
        for extra, values in extras.get(fig.name, {}).items():
            fig.context[extra] = median_of(values)


def slow_consumer(h: Harness) -> None:
    """Output read at a fixed slow rate: peak RSS growth on each side; fresh processes."""
    cfg = h.cfg
    shape = f"{cfg.slow_size / MiB:g} MiB of output read at {cfg.slow_rate / MiB:g} MiB/s"
    tasks: list[tuple[list[Figure], Callable[[], None]]] = []
    for client in h.clients:
        suffix = "" if client == "raw" else ".sdk"
        who = "raw client" if client == "raw" else "client SDK"
        rest = {
            side: h.figure(
                f"baseline.slow.{side}_rss_at_rest{suffix}",
                "baseline",
                f"{side} RSS with the session open, before the transfer ({who})",
                "MiB",
                "lower",
            )
            for side in ("server", "client")
        }
        growth = {
            side: h.figure(
                f"slow.{side}_rss_growth{suffix}",
                "slow",
                f"{side} peak RSS growth, {shape} ({who}, v2); ratio: growth / RSS at rest",
                "MiB",
                "lower",
                baseline=rest[side],
                target=Target("<=", 32),
            )
            for side in ("server", "client")
        }

        def run(
            rest: dict[str, Figure] = rest,
            growth: dict[str, Figure] = growth,
            client: str = client,
        ) -> None:
            with h.server() as srv:
                prefix = "ws" if client == "raw" else "sdk"
                r = h.worker(
                    f"{prefix}_slow_consumer",
                    fresh=True,
                    url=srv.url,
                    version=2,
                    size=cfg.slow_size,
                    rate=cfg.slow_rate,
                    server_pid=srv.pid,
                )
            for side in ("server", "client"):
                rest[side].samples += [run[f"{side}_before_mib"] for run in r["runs"]]
                growth[side].samples += [run[f"{side}_growth_mib"] for run in r["runs"]]
                growth[side].context["peak_mib"] = r["runs"][0][f"{side}_peak_mib"]
                growth[side].context["achieved_mib_per_s"] = r["runs"][0]["mib_per_s"]
            if "client_peak_buffered_mib" in r["runs"][0]:
                growth["client"].context["sdk_peak_buffered_mib"] = r["runs"][0][
                    "client_peak_buffered_mib"
                ]

        tasks.append(([*rest.values(), *growth.values()], run))
    # The clients read slowly on purpose: run them side by side (each with its own
    # server and worker process) instead of waiting out the same minutes twice.
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(tasks) or 1) as pool:
        for future in [pool.submit(h.attempt, figs, fn) for figs, fn in tasks]:
            future.result()
