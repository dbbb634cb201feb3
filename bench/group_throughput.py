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
    from .harness import Harness, Job

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
    gib = cfg.size / (1 << 30)
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

    ssh, ssh_cpu = _ssh_figures(h, pipe, what)
    # Every figure exists before anything can fail, so the results keep their shape.
    measured: list[tuple[Figure, str, int, str, bool, Figure | None]] = []
    variants = [(c, False) for c in h.clients]
    if h.sdk:
        variants.append(("sdk", True))  # the same SDK figures with tune_malloc(), to compare
    for transport in h.transports:
        tls = transport == "wss"
        for client, tuned in variants:
            if tuned and tls:
                continue
            for direction in ("stdout", "stdin"):
                for version in (2, 1):
                    suffix = ("" if client == "raw" else ".sdk") + (".tuned" if tuned else "")
                    suffix += ".tls" if tls else ""
                    who = "raw WebSocket client" if client == "raw" else "client SDK"
                    if tuned:
                        who += " with tune_malloc()"
                    fig = h.figure(
                        f"throughput.{direction}.v{version}{suffix}",
                        "throughput",
                        f"{what[direction]}; {MODE[version]}; {who}"
                        + ("; wss:// (TLS, test CA verified)" if tls else ""),
                        "MiB/s",
                        "higher",
                        baseline=pipe,
                        target=None if tuned else TARGETS[(direction, version)],
                        versus=ssh.get((direction, _CIPHER_FOR[transport])),
                    )
                    cpu[fig.name] = {"server_cpu_s": [], "client_cpu_s": []}
                    cpu_fig = None
                    if version == 2 and not tuned and client == h.clients[0]:
                        cpu_fig = h.figure(
                            f"cpu.server.{direction}.v2" + (".tls" if tls else ""),
                            "cpu",
                            f"wsep server CPU seconds per GiB, {what[direction]} "
                            f"({'wss://' if tls else 'ws://'}, {who}, v2)",
                            "s/GiB",
                            "lower",
                            versus=ssh_cpu.get((direction, _CIPHER_FOR[transport])),
                        )
                    scenario = f"{'ws' if client == 'raw' else 'sdk'}_{direction}"
                    measured.append((fig, scenario, version, transport, tuned, cpu_fig))
    server_hwm: list[float] = []

    def body() -> None:
        tls_server = h.server(tls=True) if "wss" in h.transports else contextlib.nullcontext()
        with h.server() as srv, tls_server as tsrv, tcp_sink() as port:
            servers = {"ws": srv, "wss": tsrv}

            def tcp_once(i: int) -> None:
                r = h.worker("tcp_throughput", port=port, size=cfg.size, runs=1, warmup=int(i == 0))
                tcp.samples += [mib / run["seconds"] for run in r["runs"]]

            jobs = [Job([pipe], pipe_once), Job([tcp], tcp_once)]
            for fig, scenario, version, transport, tuned, cpu_fig in measured:

                def once(
                    i: int,
                    fig: Figure = fig,
                    scenario: str = scenario,
                    v: int = version,
                    transport: str = transport,
                    tuned: bool = tuned,
                    cpu_fig: Figure | None = cpu_fig,
                ) -> None:
                    server = servers[transport]
                    assert server is not None
                    extra = {"tune_malloc": True} if tuned else {}
                    r = h.worker(
                        scenario,
                        url=server.url,
                        version=v,
                        size=cfg.size,
                        runs=1,
                        warmup=int(i == 0),
                        server_pid=server.pid,
                        **extra,
                    )
                    fig.samples += [mib / run["seconds"] for run in r["runs"]]
                    for key, values in cpu[fig.name].items():
                        values += [run[key] for run in r["runs"]]
                    if cpu_fig is not None:
                        cpu_fig.samples += [run["server_cpu_s"] / gib for run in r["runs"]]

                jobs.append(Job([fig] + ([cpu_fig] if cpu_fig else []), once))
            jobs += _ssh_jobs(h, ssh, ssh_cpu)
            h.rounds(jobs, cfg.runs)
            server_hwm.append(rss_mib(srv.pid, "VmHWM"))

    every = [pipe, tcp, *ssh.values(), *ssh_cpu.values()]
    for fig, _, _, _, _, cpu_fig in measured:
        every += [fig] + ([cpu_fig] if cpu_fig else [])
    h.attempt(every, body, keep_measured=True)
    for fig in h.figures:
        if fig.name in cpu:
            for key, values in cpu[fig.name].items():
                fig.context[key] = median_of(values)
            if server_hwm:
                fig.context["server_hwm_mib_after_group"] = server_hwm[0]
    _compare_tuned(h)


#: The ssh cipher each transport is compared with: plaintext wsep with ssh as
#: installed, wsep over TLS with ssh's fastest AEAD cipher (like for like).
_CIPHER_FOR = {"ws": "default", "wss": "aes128-gcm"}


def _ssh_figures(
    h: Harness, pipe: Figure, what: dict[str, str]
) -> tuple[dict[tuple[str, str], Figure], dict[tuple[str, str], Figure]]:
    from .ssh_scenarios import CIPHERS

    ssh: dict[tuple[str, str], Figure] = {}
    ssh_cpu: dict[tuple[str, str], Figure] = {}
    if not h.ssh:
        return ssh, ssh_cpu
    for direction in ("stdout", "stdin"):
        for cipher in CIPHERS:
            how = f"OpenSSH (`ssh` → private sshd), {cipher} cipher, over a ControlPersist master"
            ssh[(direction, cipher)] = h.figure(
                f"ssh.{direction}.{cipher}",
                "ssh",
                f"{what[direction]}; {how}",
                "MiB/s",
                "higher",
                baseline=pipe,
            )
            ssh_cpu[(direction, cipher)] = h.figure(
                f"ssh.server_cpu.{direction}.{cipher}",
                "ssh",
                f"sshd CPU seconds per GiB (its process tree, less the command's own), "
                f"{what[direction]}; {cipher} cipher",
                "s/GiB",
                "lower",
            )
    return ssh, ssh_cpu


def _ssh_jobs(
    h: Harness, ssh: dict[tuple[str, str], Figure], ssh_cpu: dict[tuple[str, str], Figure]
) -> list[Job]:
    from .harness import Job
    from .ssh_scenarios import CIPHERS, ssh_stdin, ssh_stdout

    cfg = h.cfg
    jobs = []
    for (direction, cipher), fig in ssh.items():
        cpu_fig = ssh_cpu[(direction, cipher)]

        def once(
            i: int,
            fig: Figure = fig,
            cpu_fig: Figure = cpu_fig,
            d: str = direction,
            c: str = cipher,
        ) -> None:
            sshd = h.sshd()
            if i == 0:  # the master connection is set up here, not in a measured run
                sshd.run(["true"], cipher=CIPHERS[c], master=c)
            h.log(f"  ssh {d} cipher={c} size={cfg.size}")
            r = (ssh_stdout if d == "stdout" else ssh_stdin)(sshd, cfg.size, c)
            fig.samples.append(cfg.size / MiB / r["seconds"])
            cpu_fig.samples.append(r["server_cpu_s"] / (cfg.size / (1 << 30)))

        jobs.append(Job([fig, cpu_fig], once))
    return jobs


def _compare_tuned(h: Harness) -> None:
    """The SDK with its defaults against the same with ``tune_malloc()``, same run."""
    by_name = {f.name: f for f in h.figures}
    parts = []
    for direction in ("stdout", "stdin"):
        for version in (2, 1):
            fig = by_name.get(f"throughput.{direction}.v{version}.sdk")
            tuned = by_name.get(f"throughput.{direction}.v{version}.sdk.tuned")
            if fig is None or tuned is None or not fig.median or not tuned.median:
                continue
            ratio = fig.median / tuned.median
            fig.context["ratio_to_tune_malloc"] = ratio
            parts.append(f"{direction} v{version} {ratio:.2f}×")
    if parts:
        h.cfg.notes.append("SDK defaults / SDK with tune_malloc(): " + ", ".join(parts))
