"""Runs the groups of figures: servers, workers, baselines, and what each figure means."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .config import Config, MiB
from .procs import raise_nofile, rss_mib
from .profile import Profiler
from .results import Figure, Target
from .server import ServerProcess
from .stats import percentile
from .workers import SharedWorker, WorkerError, run_fresh

__all__ = ["Harness", "WorkerError"]

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _median(values: list[float]) -> float:
    return percentile(values, 50) if values else float("nan")


def sdk_available() -> bool:
    """True once the client SDK exposes ``connect`` (it is being written alongside)."""
    if importlib.util.find_spec("wsep_client") is None:
        return False
    import wsep_client

    return hasattr(wsep_client, "connect")


class Harness:
    def __init__(self, cfg: Config, log: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.log = log
        self.figures: list[Figure] = []
        self.nofile = raise_nofile()
        client = cfg.client
        has_sdk = sdk_available()
        if client == "auto":
            client = "both" if has_sdk else "raw"
            if not has_sdk:
                cfg.notes.append("client SDK not available: raw WebSocket load generator only")
        if client in ("sdk", "both") and not has_sdk:
            raise SystemExit("--client sdk: wsep_client.connect is not available")
        self.raw = client in ("raw", "both")
        if self.raw:
            cfg.notes.append(
                "raw = the load generator in bench/wsraw.py (aiohttp + wsep_protocol, glibc malloc "
                "tuned as wsep-server does); .sdk = wsep_client with its defaults"
            )
        self._pools: dict[str, SharedWorker] = {}
        self._profiles = 0
        self._group = ""
        self.sdk = client in ("sdk", "both")

    # --- plumbing -------------------------------------------------------------

    def figure(
        self,
        name: str,
        group: str,
        description: str,
        unit: str,
        better: str,
        *,
        baseline: Figure | None = None,
        target: Target | None = None,
    ) -> Figure:
        fig = Figure(name, group, description, unit, better, baseline=baseline, target=target)  # type: ignore[arg-type]
        self.figures.append(fig)
        return fig

    def worker(self, scenario: str, *, fresh: bool = False, **params: Any) -> dict[str, Any]:
        """Run a client-side scenario in a worker process and return its result.

        ``fresh`` gives it a process of its own (for client memory figures);
        otherwise it runs in a shared worker, which saves interpreter starts. The
        raw load generator's scenarios (``ws_*``) share one of their own: it tunes
        malloc for large buffers, which must not leak into the SDK's figures.
        """
        params = {"scenario": scenario, "timeout": self.cfg.worker_timeout, **params}
        self.log(f"  {scenario} {_short(params)}")
        timeout = self.cfg.worker_timeout + 60
        if fresh:
            return run_fresh(params, timeout)
        key = "ws" if scenario.startswith("ws_") else "plain"
        if key not in self._pools:
            self._pools[key] = SharedWorker()
        return self._pools[key].run(params, timeout)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    @contextlib.contextmanager
    def server(self, *, v1_only: bool = False) -> Iterator[ServerProcess]:
        template = self.cfg.server_cmd_v1 if v1_only else self.cfg.server_cmd
        if self.cfg.server_args:
            template = f"{template} {self.cfg.server_args}"
        srv = ServerProcess(template).start()
        profiler = None
        if self.cfg.profile:
            self._profiles += 1
            out = pathlib.Path(self.cfg.out).resolve() / "profiles"
            profiler = Profiler(srv.pid, out / f"server-{self._profiles:02d}-{self._group}.svg")
        try:
            yield srv
        finally:
            if profiler is not None:
                self.log(f"  profile: {profiler.stop()}")
            srv.stop()

    def attempt(self, figures: list[Figure], fn: Callable[[], None]) -> None:
        """Run ``fn``; if it fails, the figures keep an error instead of stopping the suite."""
        try:
            fn()
        except Exception as exc:
            msg = f"{type(exc).__name__}: {exc}"
            self.log(f"  FAILED: {msg}")
            for fig in figures:
                if not fig.samples:
                    fig.error = msg

    # --- groups -----------------------------------------------------------------

    def run(self) -> list[Figure]:
        try:
            for group in self.cfg.groups:
                self.log(f"[{group}]")
                self._group = group
                getattr(self, f"group_{group}")()
        finally:
            self.close()
        return self.figures

    def group_throughput(self) -> None:
        cfg = self.cfg
        mib = cfg.size / MiB
        size_txt = f"{mib:g} MiB"
        pipe = self.figure(
            "baseline.pipe",
            "baseline",
            f"{size_txt} through a direct pipe: head -c | cat > /dev/null",
            "MiB/s",
            "higher",
        )
        tcp = self.figure(
            "baseline.tcp",
            "baseline",
            f"{size_txt} over one raw loopback TCP connection (1 MiB sends), count checked",
            "MiB/s",
            "higher",
        )

        def run_pipe() -> None:
            for _ in range(cfg.runs):
                t0 = time.perf_counter()
                subprocess.run(
                    ["sh", "-c", f"head -c {cfg.size} /dev/zero | cat > /dev/null"], check=True
                )
                pipe.samples.append(mib / (time.perf_counter() - t0))

        self.attempt([pipe], run_pipe)

        def run_tcp() -> None:
            helper = subprocess.Popen(
                [sys.executable, "-m", "bench.tcphelper", "sink"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert helper.stdout is not None
                port = int(helper.stdout.readline())
                r = self.worker("tcp_throughput", port=port, size=cfg.size, runs=cfg.runs)
                tcp.samples += [mib / run["seconds"] for run in r["runs"]]
            finally:
                helper.kill()
                helper.wait()

        self.attempt([tcp], run_tcp)

        targets = {
            ("stdout", 2): Target(">=", 900),
            ("stdin", 2): Target(">=", 800),
            ("stdout", 1): Target(">=", 500),
            ("stdin", 1): Target(">=", 500),
        }
        what = {
            "stdout": f"{size_txt} out of stdout (head -c {cfg.size} /dev/zero), count checked",
            "stdin": f"{size_txt} into stdin (wc -c), count checked",
        }
        mode = {1: "v1 mode (64,000-byte messages)", 2: "negotiated v2 (1 MiB messages)"}
        clients = [c for c, on in (("raw", self.raw), ("sdk", self.sdk)) if on]
        with self.server() as srv:
            for client in clients:
                for direction in ("stdout", "stdin"):
                    for version in (2, 1):
                        suffix = "" if client == "raw" else ".sdk"
                        fig = self.figure(
                            f"throughput.{direction}.v{version}{suffix}",
                            "throughput",
                            f"{what[direction]}; {mode[version]}; "
                            + ("raw WebSocket client" if client == "raw" else "client SDK"),
                            "MiB/s",
                            "higher",
                            baseline=pipe,
                            target=targets[(direction, version)],
                        )

                        def run(
                            fig: Figure = fig,
                            client: str = client,
                            d: str = direction,
                            v: int = version,
                        ) -> None:
                            prefix = "ws" if client == "raw" else "sdk"
                            r = self.worker(
                                f"{prefix}_{d}",
                                url=srv.url,
                                version=v,
                                size=cfg.size,
                                runs=cfg.runs,
                                server_pid=srv.pid,
                            )
                            fig.samples += [mib / run["seconds"] for run in r["runs"]]
                            fig.context["server_cpu_s"] = _median(
                                [run["server_cpu_s"] for run in r["runs"]]
                            )
                            fig.context["client_cpu_s"] = _median(
                                [run["client_cpu_s"] for run in r["runs"]]
                            )

                        self.attempt([fig], run)
            fig_srv = rss_mib(srv.pid, "VmHWM")
            for fig in self.figures:
                if fig.group == "throughput":
                    fig.context.setdefault("server_hwm_mib_after_group", fig_srv)

    def group_latency(self) -> None:
        cfg = self.cfg
        n = cfg.count
        spawn = {
            stat: self.figure(
                f"baseline.spawn_true.{stat}",
                "baseline",
                f"`true` started and reaped locally by asyncio ({stat} of {n})",
                "ms",
                "lower",
            )
            for stat in ("p50", "p99")
        }
        pty = {
            stat: self.figure(
                f"baseline.pty_echo.{stat}",
                "baseline",
                f"keystroke echo through a local PTY, same command ({stat} of {n})",
                "ms",
                "lower",
            )
            for stat in ("p50", "p99")
        }
        pystart = self.figure(
            "baseline.python_startup",
            "baseline",
            f"`python -c pass`, the floor of any Python CLI (p50 of {cfg.cli_count})",
            "ms",
            "lower",
        )

        def fill(figs: dict[str, Figure], r: dict[str, Any]) -> None:
            for stat, fig in figs.items():
                fig.samples += [run[f"{stat}_ms"] for run in r["runs"]]

        common: dict[str, Any] = {"count": n, "runs": cfg.latency_runs, "warmup": cfg.warmup}
        self.attempt(list(spawn.values()), lambda: fill(spawn, self.worker("spawn_true", **common)))
        self.attempt(list(pty.values()), lambda: fill(pty, self.worker("pty_echo", **common)))

        def run_pystart() -> None:
            times = []
            for _ in range(cfg.cli_count):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", "pass"], check=True)
                times.append((time.perf_counter() - t0) * 1000)
            pystart.samples.append(percentile(times, 50))

        self.attempt([pystart], run_pystart)

        targets = {"p50": Target("<=", 5)}
        with self.server() as srv:
            if self.raw:
                for version in (2, 1):
                    figs = {
                        stat: self.figure(
                            f"latency.true.v{version}.{stat}",
                            "latency",
                            f"start → exit of `true`, new WebSocket per process "
                            f"(raw client, v{version}; {stat} of {n})",
                            "ms",
                            "lower",
                            baseline=spawn[stat],
                            target=targets.get(stat),
                        )
                        for stat in ("p50", "p99")
                    }
                    self.attempt(
                        list(figs.values()),
                        lambda figs=figs, v=version: fill(  # type: ignore[misc]
                            figs, self.worker("ws_true", url=srv.url, version=v, **common)
                        ),
                    )
                tty = {
                    stat: self.figure(
                        f"latency.tty_echo.{stat}",
                        "latency",
                        f"keystroke echo round trip through a TTY at rest "
                        f"(raw client, v2; {stat} of {n})",
                        "ms",
                        "lower",
                        baseline=pty[stat],
                        target=Target("<=", 5) if stat == "p99" else None,
                    )
                    for stat in ("p50", "p99")
                }
                self.attempt(
                    list(tty.values()),
                    lambda: fill(tty, self.worker("ws_tty_echo", url=srv.url, version=2, **common)),
                )
            if self.sdk:
                self._sdk_latency(srv, spawn, pty, pystart, fill, common)

    def _sdk_latency(
        self,
        srv: ServerProcess,
        spawn: dict[str, Figure],
        pty: dict[str, Figure],
        pystart: Figure,
        fill: Callable[[dict[str, Figure], dict[str, Any]], None],
        common: dict[str, Any],
    ) -> None:
        cfg, n = self.cfg, self.cfg.count
        for version in (2, 1):
            figs = {
                stat: self.figure(
                    f"latency.true.v{version}.sdk.{stat}",
                    "latency",
                    f"start → exit of `true` on an open SDK client "
                    f"({'v1-only server' if version == 1 else 'v2'}; {stat} of {n})",
                    "ms",
                    "lower",
                    baseline=spawn[stat],
                    target=Target("<=", 5) if stat == "p50" else None,
                )
                for stat in ("p50", "p99")
            }
            if version == 2:
                self.attempt(
                    list(figs.values()),
                    lambda figs=figs: fill(  # type: ignore[misc]
                        figs, self.worker("sdk_true", url=srv.url, **common)
                    ),
                )
            else:

                def run_v1(figs: dict[str, Figure] = figs) -> None:
                    with self.server(v1_only=True) as srv1:
                        fill(figs, self.worker("sdk_true", url=srv1.url, **common))

                self.attempt(list(figs.values()), run_v1)
        tty = {
            stat: self.figure(
                f"latency.tty_echo.sdk.{stat}",
                "latency",
                f"keystroke echo round trip through a TTY at rest (client SDK; {stat} of {n})",
                "ms",
                "lower",
                baseline=pty[stat],
                target=Target("<=", 5) if stat == "p99" else None,
            )
            for stat in ("p50", "p99")
        }
        self.attempt(
            list(tty.values()),
            lambda: fill(tty, self.worker("sdk_tty_echo", url=srv.url, **common)),
        )
        cli = self.figure(
            "latency.cli_run_true.p50",
            "latency",
            f"a whole `wsep run -- true` process, start to exit (p50 of {cfg.cli_count})",
            "ms",
            "lower",
            baseline=pystart,
        )

        def run_cli() -> None:
            from .sdk_scenarios import cli_argv

            argv = cli_argv(srv.url, ["true"])
            self.log(f"  {' '.join(argv)} (x{cfg.cli_count})")
            times = []
            for _ in range(cfg.cli_count):
                t0 = time.perf_counter()
                proc = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, capture_output=True, text=True
                )
                times.append((time.perf_counter() - t0) * 1000)
                if proc.returncode != 0:
                    raise WorkerError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr}")
            cli.samples.append(percentile(times, 50))
            cli.context["p99_ms"] = percentile(times, 99)
            cli.context["argv"] = argv

        self.attempt([cli], run_cli)

    def group_concurrency(self) -> None:
        cfg = self.cfg
        shape = f"{cfg.sessions} sessions, {cfg.payload}-byte echo loop for {cfg.duration:g} s"
        keys = {
            "mib_per_s": ("aggregate echo throughput", "MiB/s", "higher", None),
            "rtt_p99_ms": ("p99 round trip", "ms", "lower", None),
            "server_rss_mib": ("server peak RSS", "MiB", "lower", Target("<=", 300)),
            "per_session_kib": ("server memory per session", "KiB", "lower", None),
        }
        base = {
            k: self.figure(
                f"baseline.tcp_echo.{k}",
                "baseline",
                f"{desc}: asyncio TCP echo server process, {shape}",
                unit,
                better,
            )
            for k, (desc, unit, better, _) in keys.items()
        }

        def fill(figs: dict[str, Figure], r: dict[str, Any]) -> None:
            for k, fig in figs.items():
                fig.samples += [run[k] for run in r["runs"]]
            for fig in figs.values():
                for extra in ("round_trips_per_s", "setup_seconds", "server_cpu_s", "client_cpu_s"):
                    fig.context[extra] = _median([run[extra] for run in r["runs"]])
                fig.context["server_rss_idle_mib"] = r["runs"][0]["server_rss_idle_mib"]

        common = {
            "sessions": cfg.sessions,
            "duration": cfg.duration,
            "payload": cfg.payload,
            "runs": cfg.concurrency_runs,
        }

        def run_tcp() -> None:
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
                    self.worker(
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

        self.attempt(list(base.values()), run_tcp)
        clients = [c for c, on in (("raw", self.raw), ("sdk", self.sdk)) if on]
        for client in clients:
            suffix = "" if client == "raw" else ".sdk"
            figs = {
                k: self.figure(
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

            def run(figs: dict[str, Figure] = figs, client: str = client) -> None:
                with self.server() as srv:
                    prefix = "ws" if client == "raw" else "sdk"
                    fill(
                        figs,
                        self.worker(
                            f"{prefix}_concurrent_echo",
                            fresh=True,
                            url=srv.url,
                            version=2,
                            server_pid=srv.pid,
                            **common,
                        ),
                    )

            self.attempt(list(figs.values()), run)

    def group_slow(self) -> None:
        cfg = self.cfg
        shape = f"{cfg.slow_size / MiB:g} MiB of output read at {cfg.slow_rate / MiB:g} MiB/s"
        clients = [c for c, on in (("raw", self.raw), ("sdk", self.sdk)) if on]
        for client in clients:
            suffix = "" if client == "raw" else ".sdk"
            who = "raw client" if client == "raw" else "client SDK"
            rest = {
                side: self.figure(
                    f"baseline.slow.{side}_rss_at_rest{suffix}",
                    "baseline",
                    f"{side} RSS with the session open, before the transfer ({who})",
                    "MiB",
                    "lower",
                )
                for side in ("server", "client")
            }
            growth = {
                side: self.figure(
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
                with self.server() as srv:
                    prefix = "ws" if client == "raw" else "sdk"
                    r = self.worker(
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

            self.attempt([*rest.values(), *growth.values()], run)


def _short(params: dict[str, Any]) -> str:
    keep = {k: v for k, v in params.items() if k not in ("scenario", "timeout", "url")}
    return " ".join(f"{k}={v}" for k, v in keep.items())


def which(name: str) -> str | None:
    """``name`` next to this interpreter (the venv's scripts) or on PATH."""
    local = pathlib.Path(sys.executable).parent / name
    if local.exists() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)
