"""Sizes and counts: full by default, ``--quick`` for a look, ``--smoke`` for CI."""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from .server import DEFAULT_SERVER_CMD, DEFAULT_SERVER_CMD_V1

__all__ = ["GROUPS", "Config", "parse_args", "parse_size"]

MiB = 1 << 20
GiB = 1 << 30
GROUPS = ("throughput", "latency", "concurrency", "slow", "fleet", "cli")


@dataclass
class Config:
    size: int = 256 * MiB  # throughput transfer, each direction
    runs: int = 5  # runs per throughput figure
    latency_runs: int = 3  # runs per latency figure (each of `count` samples)
    count: int = 1000  # samples per latency run (open-client `true`, TTY echo)
    warmup: int = 20  # latency samples discarded before each latency figure
    cli_count: int = 50  # whole `wsep run -- true` processes
    sessions: int = 1000
    duration: float = 5.0  # echo phase per concurrency run, seconds
    concurrency_runs: int = 3
    payload: int = 1024  # bytes per echo round trip
    slow_size: int = 1 * GiB
    slow_rate: float = 10 * MiB  # bytes/s read by the slow consumer
    groups: tuple[str, ...] = GROUPS
    client: str = "auto"  # raw, sdk, both, auto (both once the SDK exists)
    server_cmd: str = DEFAULT_SERVER_CMD
    server_cmd_v1: str = DEFAULT_SERVER_CMD_V1
    server_args: str = ""  # appended to both server commands, e.g. "--no-tune-malloc"
    out: str = "bench-results"
    json: bool = True
    profile: bool = False  # py-spy flame graphs of every server under test
    sdk_tune_malloc: bool = False  # measure the SDK with glibc malloc tuned too
    tls: bool = True  # every throughput and latency figure over wss:// too
    ssh: bool = True  # OpenSSH baseline (a private sshd) where openssh-server is installed
    preset: str = "full"
    worker_timeout: float = 900.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


QUICK = dict(
    size=32 * MiB,
    runs=3,
    latency_runs=3,
    count=200,
    cli_count=10,
    sessions=200,
    duration=2.0,
    concurrency_runs=2,
    slow_size=64 * MiB,
    slow_rate=10 * MiB,
)
SMOKE = dict(
    size=2 * MiB,
    runs=2,
    latency_runs=2,
    count=10,
    warmup=2,
    cli_count=2,
    sessions=8,
    duration=0.3,
    concurrency_runs=1,
    slow_size=2 * MiB,
    slow_rate=50 * MiB,
    worker_timeout=60.0,
)

_UNITS = {"": 1, "k": 1 << 10, "m": MiB, "g": GiB}


def parse_size(text: str) -> int:
    """``256M``, ``1G``, ``64k``, ``1000`` (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def parse_args(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="wsep benchmarks on loopback: figures, baselines, ratios, targets.",
    )
    preset = p.add_mutually_exclusive_group()
    preset.add_argument("--quick", action="store_true", help="smaller sizes and counts")
    preset.add_argument("--smoke", action="store_true", help="tiny sizes (CI: cannot rot)")
    p.add_argument("--size", type=parse_size, help="throughput bytes per run (256M)")
    p.add_argument("--runs", type=int, help="runs per throughput figure (5)")
    p.add_argument("--latency-runs", type=int, help="runs per latency figure (3)")
    p.add_argument("--count", type=int, help="samples per latency run (1000)")
    p.add_argument("--cli-count", type=int, help="`wsep run -- true` processes (50)")
    p.add_argument("--sessions", type=int, help="concurrent sessions (1000)")
    p.add_argument("--duration", type=float, help="echo seconds per concurrency run (5)")
    p.add_argument("--concurrency-runs", type=int, help="concurrency runs (3)")
    p.add_argument("--payload", type=parse_size, help="bytes per echo round trip (1k)")
    p.add_argument("--slow-size", type=parse_size, help="slow-consumer output (1G)")
    p.add_argument("--slow-rate", type=parse_size, help="slow-consumer bytes/s (10M)")
    p.add_argument(
        "--only", help=f"comma-separated groups to run ({','.join(GROUPS)}); default all"
    )
    p.add_argument(
        "--client",
        choices=["auto", "raw", "sdk", "both"],
        default="auto",
        help="raw WebSocket load generator, the client SDK, or both (auto: both if installed)",
    )
    p.add_argument("--server-cmd", help="server command template ({python}, {port})")
    p.add_argument("--server-cmd-v1", help="v1-only server command template")
    p.add_argument("--server-args", help='extra options for both servers, e.g. "--no-tune-malloc"')
    p.add_argument("--out", help="directory for the JSON results (bench-results)")
    p.add_argument("--no-json", action="store_true", help="print the table only")
    p.add_argument(
        "--sdk-tune-malloc",
        action="store_true",
        help="tune glibc malloc in the SDK's client processes too (as the raw client does)",
    )
    p.add_argument("--no-tls", action="store_true", help="no wss:// figures")
    p.add_argument("--no-ssh", action="store_true", help="no OpenSSH baseline")
    p.add_argument(
        "--profile",
        action="store_true",
        help="record py-spy flame graphs of the servers into <out>/profiles/ (slows them)",
    )
    a = p.parse_args(argv)
    cfg = Config()
    if a.quick:
        cfg = dataclasses.replace(cfg, preset="quick", **QUICK)  # type: ignore[arg-type]
    elif a.smoke:
        cfg = dataclasses.replace(cfg, preset="smoke", **SMOKE)  # type: ignore[arg-type]
    for name in (
        "size",
        "runs",
        "latency_runs",
        "count",
        "cli_count",
        "sessions",
        "duration",
        "concurrency_runs",
        "payload",
        "slow_size",
        "slow_rate",
        "server_cmd",
        "server_cmd_v1",
        "server_args",
        "out",
    ):
        value = getattr(a, name)
        if value is not None:
            setattr(cfg, name, value)
    if a.only:
        groups = tuple(g.strip() for g in a.only.split(",") if g.strip())
        unknown = set(groups) - set(GROUPS)
        if unknown:
            p.error(f"unknown group(s): {', '.join(sorted(unknown))}")
        cfg.groups = groups
    cfg.client = a.client
    cfg.json = not a.no_json
    cfg.profile = a.profile
    cfg.sdk_tune_malloc = a.sdk_tune_malloc
    cfg.tls = not a.no_tls
    cfg.ssh = not a.no_ssh
    return cfg
