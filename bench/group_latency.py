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
        versus: dict[str, Figure] = kw.get("versus", {})
        return {
            stat: h.figure(
                f"{name}.{stat}",
                group,
                f"{text} ({stat} of {n})",
                "ms",
                "lower",
                baseline=base.get(stat),
                target=targets.get(stat),
                versus=versus.get(stat),
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
    ssh_cold, ssh_ctl = _ssh_figures(h)
    # Every figure exists before anything can fail, so the results keep their shape.
    # (figures, scenario, server: "v2"/"v1" + "s" for wss://, extra params)
    planned: list[tuple[dict[str, Figure], str, str, dict[str, Any]]] = []
    for transport in h.transports:
        tls, s = (".tls", "s") if transport == "wss" else ("", "")
        over = " over wss://" if tls else ""
        if h.raw:
            for v in (2, 1):
                figs = pair(
                    f"latency.true.v{v}{tls}",
                    "latency",
                    f"start → exit of `true`, new WebSocket per process (raw client, v{v}){over}",
                    baseline=spawn,
                    targets=true_target,
                )
                planned.append((figs, "ws_true", f"v2{s}", {"version": v}))
            tty = pair(
                f"latency.tty_echo{tls}",
                "latency",
                f"keystroke echo round trip through a TTY at rest (raw client, v2){over}",
                baseline=pty,
                targets=tty_target,
            )
            planned.append((tty, "ws_tty_echo", f"v2{s}", {"version": 2}))
        if h.sdk:
            for v in (2, 1):
                figs = pair(
                    f"latency.true.v{v}.sdk{tls}",
                    "latency",
                    "start → exit of `true`: `await remote.run('true')` on an open SDK client "
                    + ("(v1-only server)" if v == 1 else "(v2)")
                    + over,
                    baseline=spawn,
                    targets=true_target,
                    versus=ssh_ctl if v == 2 else {},
                )
                planned.append((figs, "sdk_true", f"v{v}{s}", {}))
            tty = pair(
                f"latency.tty_echo.sdk{tls}",
                "latency",
                f"keystroke echo round trip through a TTY at rest (client SDK){over}",
                baseline=pty,
                targets=tty_target,
            )
            planned.append((tty, "sdk_tty_echo", f"v2{s}", {}))
    pystart, clis = _process_figures(h, ssh_cold)

    def body() -> None:
        with contextlib.ExitStack() as stack:
            urls: dict[str, str] = {}
            for transport in h.transports:
                s = "s" if transport == "wss" else ""
                tls = transport == "wss"
                urls[f"v2{s}"] = stack.enter_context(h.server(tls=tls)).url
                if h.sdk:
                    urls[f"v1{s}"] = stack.enter_context(h.server(v1_only=True, tls=tls)).url
            jobs = [job(spawn, "spawn_true"), job(pty, "pty_echo")]
            jobs += [
                job(figs, scenario, url=urls[server], **params)
                for figs, scenario, server, params in planned
            ]
            jobs += _ssh_jobs(h, ssh_cold, ssh_ctl)
            h.rounds(jobs, cfg.latency_runs)
            _measure_processes(h, pystart, clis, urls)

    every = [*spawn.values(), *pty.values(), pystart, *ssh_cold.values(), *ssh_ctl.values()]
    every += [fig for figs, _, _, _ in planned for fig in figs.values()]
    h.attempt(every + list(clis.values()), body, keep_measured=True)


def _ssh_figures(h: Harness) -> tuple[dict[str, Figure], dict[str, Figure]]:
    """OpenSSH's `true`: a whole cold ``ssh host true``, and one through a ControlPersist master."""
    if not h.ssh:
        return {}, {}
    cfg = h.cfg
    cold = {
        stat: h.figure(
            f"ssh.cli_true.{stat}",
            "ssh",
            f"a whole cold `ssh host true` (new connection: key exchange, authentication, "
            f"session; default cipher) ({stat} of {cfg.cli_count})",
            "ms",
            "lower",
        )
        for stat in STATS
    }
    ctl = {
        stat: h.figure(
            f"ssh.control_true.{stat}",
            "ssh",
            f"`ssh host true` through a ControlPersist master (ControlMaster=auto) "
            f"({stat} of {cfg.count})",
            "ms",
            "lower",
        )
        for stat in STATS
    }
    return cold, ctl


def _ssh_jobs(h: Harness, cold: dict[str, Figure], ctl: dict[str, Figure]) -> list[Job]:
    from .harness import Job
    from .ssh_scenarios import ssh_cli_latency

    if not cold:
        return []

    def run_cold(i: int) -> None:
        h.log(f"  ssh true, cold (x{h.cfg.cli_count})")
        r = ssh_cli_latency(h.sshd(), h.cfg.cli_count, master=False)
        for stat, fig in cold.items():
            fig.samples.append(r[f"{stat}_ms"])

    def run_ctl(i: int) -> None:
        h.log(f"  ssh true, ControlPersist (x{h.cfg.count})")
        r = ssh_cli_latency(h.sshd(), h.cfg.count, master=True)
        for stat, fig in ctl.items():
            fig.samples.append(r[f"{stat}_ms"])

    return [Job(list(cold.values()), run_cold), Job(list(ctl.values()), run_ctl)]


def _process_figures(h: Harness, ssh_cold: dict[str, Figure]) -> tuple[Figure, dict[str, Figure]]:
    cfg = h.cfg
    pystart = h.figure(
        "baseline.python_startup",
        "baseline",
        f"`python -c pass`, the floor of any Python CLI (p50 of {cfg.cli_count})",
        "ms",
        "lower",
    )
    clis: dict[str, Figure] = {}
    if h.sdk:
        for transport in h.transports:
            tls = ".tls" if transport == "wss" else ""
            clis[transport] = h.figure(
                f"latency.cli_run_true{tls}.p50",
                "latency",
                f"a whole `wsep run -- true` process, start to exit (p50 of {cfg.cli_count})"
                + (" over wss://" if tls else ""),
                "ms",
                "lower",
                baseline=pystart,
                versus=ssh_cold.get("p50"),
            )
    return pystart, clis


def _measure_processes(
    h: Harness, pystart: Figure, clis: dict[str, Figure], urls: dict[str, str]
) -> None:
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

    def run_cli(transport: str, cli: Figure) -> None:
        from .sdk_scenarios import cli_argv

        tls = transport == "wss"
        url = urls["v2s" if tls else "v2"]
        argv = cli_argv(url, ["true"], str(h.test_ca().ca) if tls else None)
        h.log(f"  {' '.join(argv)} (x{cfg.cli_count})")
        times = timed(argv)
        cli.samples.append(percentile(times, 50))
        cli.context["p99_ms"] = percentile(times, 99)
        cli.context["argv"] = argv

    for transport, cli in clis.items():
        h.attempt([cli], lambda t=transport, c=cli: run_cli(t, c))  # type: ignore[misc]
