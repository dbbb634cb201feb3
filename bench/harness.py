"""Runs the groups of figures: servers, workers, baselines, and what each figure means."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import pathlib
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .config import Config
from .procs import raise_nofile
from .profile import Profiler
from .results import Figure, Target
from .server import ServerProcess
from .sshd import Sshd, sshd_unavailable
from .stats import percentile
from .tls import TestCA, tls_unavailable
from .workers import SharedWorker, WorkerError, run_fresh

__all__ = ["ROOT", "Harness", "Job", "WorkerError", "median_of", "which"]

ROOT = pathlib.Path(__file__).resolve().parent.parent


def median_of(values: list[float]) -> float:
    return percentile(values, 50) if values else float("nan")


def sdk_available() -> bool:
    """True once the client SDK exposes ``connect`` (it is being written alongside)."""
    if importlib.util.find_spec("wsep_client") is None:
        return False
    import wsep_client

    return hasattr(wsep_client, "connect")


@dataclass
class Job:
    """One run of some figures, for :meth:`Harness.rounds`; ``run(i)`` is called per round."""

    figures: list[Figure]
    run: Callable[[int], None]


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
                + (" and glibc malloc tuned (--sdk-tune-malloc)" if cfg.sdk_tune_malloc else "")
            )
        self._pools: dict[str, SharedWorker] = {}
        self._profiles = 0
        self._group = ""
        self.sdk = client in ("sdk", "both")
        self._ca: TestCA | None = None
        self._sshd: Sshd | None = None
        self._sshd_error: str | None = None
        #: ``ws`` and, unless ``--no-tls`` or trustme is missing, ``wss``.
        self.transports = ["ws"]
        if cfg.tls:
            why = tls_unavailable()
            if why:
                cfg.notes.append(why)
            else:
                self.transports.append("wss")
        #: Whether ssh figures are measured: only where a private sshd works here.
        self.ssh = False
        if cfg.ssh and {"throughput", "latency"} & set(cfg.groups):
            why = sshd_unavailable()
            if why is None:
                try:
                    self.sshd()
                except Exception as exc:
                    why = f"the private sshd did not work: {exc}"[:300]
            if why:
                cfg.notes.append(f"no ssh baseline: {why}")
            else:
                self.ssh = True

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
        versus: Figure | None = None,
    ) -> Figure:
        fig = Figure(name, group, description, unit, better, baseline=baseline, target=target)  # type: ignore[arg-type]
        fig.versus = versus
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
        if self.cfg.sdk_tune_malloc and scenario.startswith("sdk_"):
            params["tune_malloc"] = True
        if str(params.get("url", "")).startswith("wss:"):
            params["ca"] = str(self.test_ca().ca)
        self.log(f"  {scenario} {_short(params)}")
        timeout = self.cfg.worker_timeout + 60
        if fresh:
            return run_fresh(params, timeout)
        key = "ws" if scenario.startswith("ws_") else "plain"
        if params.get("tune_malloc") and key == "plain":
            key = "tuned"  # process-wide: never shared with figures measured without it
        if key not in self._pools:
            self._pools[key] = SharedWorker()
        return self._pools[key].run(params, timeout)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        if self._sshd is not None:
            self._sshd.stop()
            self._sshd = None
        if self._ca is not None:
            self._ca.close()
            self._ca = None

    def test_ca(self) -> TestCA:
        """The CA the ``wss://`` servers' certificate comes from (made on first use)."""
        if self._ca is None:
            self._ca = TestCA()
        return self._ca

    def sshd(self) -> Sshd:
        """The private sshd of the ssh baseline, started on first use."""
        if self._sshd_error is not None:
            raise RuntimeError(self._sshd_error)
        if self._sshd is None:
            self.log("  starting a private sshd")
            sshd = Sshd()
            try:
                self._sshd = sshd.start()
            except Exception as exc:
                sshd.stop()  # a server that started but cannot log in leaves nothing behind
                self._sshd_error = f"sshd: {exc}"
                raise
        return self._sshd

    @contextlib.contextmanager
    def server(self, *, v1_only: bool = False, tls: bool = False) -> Iterator[ServerProcess]:
        """A server under test; ``tls``: ``wss://`` with the test CA's certificate."""
        template = self.cfg.server_cmd_v1 if v1_only else self.cfg.server_cmd
        if self.cfg.server_args:
            template = f"{template} {self.cfg.server_args}"
        if tls:
            template = f"{template} {self.test_ca().server_args()}"
        srv = ServerProcess(template, tls=tls).start()
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

    def attempt(
        self, figures: list[Figure], fn: Callable[[], None], *, keep_measured: bool = False
    ) -> bool:
        """Run ``fn``; if it fails, the figures keep an error instead of stopping the suite.

        ``keep_measured``: figures that already have samples keep them without an error
        (for a whole group whose later part failed, e.g. a server that did not start).
        """
        try:
            fn()
        except Exception as exc:
            msg = f"{type(exc).__name__}: {exc}"
            self.log(f"  FAILED: {msg}")
            for fig in figures:
                if not (keep_measured and fig.samples):
                    fig.error = msg
            return False
        return True

    # --- groups -----------------------------------------------------------------

    def rounds(self, jobs: list[Job], count: int) -> None:
        """Run every job once per round, ``count`` rounds: figures measured side by side
        share the machine's ups and downs instead of one of them taking all of a bad minute.
        A job that fails is not run again; its figures keep the error.
        """
        failed: set[int] = set()
        for i in range(count):
            for j, job in enumerate(jobs):
                if j in failed:
                    continue
                if not self.attempt(job.figures, functools.partial(job.run, i)):
                    failed.add(j)

    def run(self) -> list[Figure]:
        from . import cli_latency, group_fleet, group_latency, group_load, group_throughput

        groups: dict[str, Callable[[Harness], None]] = {
            "throughput": group_throughput.run,
            "latency": group_latency.run,
            "concurrency": group_load.concurrency,
            "slow": group_load.slow_consumer,
            "fleet": group_fleet.run,
            "cli": cli_latency.run,
        }
        try:
            for group in self.cfg.groups:
                self.log(f"[{group}]")
                self._group = group
                groups[group](self)
        finally:
            self.close()
        return self.figures

    @property
    def clients(self) -> list[str]:
        """``raw`` and/or ``sdk``: the clients figures are measured with."""
        return [c for c, on in (("raw", self.raw), ("sdk", self.sdk)) if on]


def _short(params: dict[str, Any]) -> str:
    keep = {k: v for k, v in params.items() if k not in ("scenario", "timeout", "url")}
    return " ".join(f"{k}={v}" for k, v in keep.items())


def which(name: str) -> str | None:
    """``name`` next to this interpreter (the venv's scripts) or on PATH."""
    local = pathlib.Path(sys.executable).parent / name
    if local.exists() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)
