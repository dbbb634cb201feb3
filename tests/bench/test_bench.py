"""The benchmark suite at its smallest size, so it cannot rot; and its JSON shape.

Performance is not asserted here: only that every figure is measured, has its
baseline ratio, and that the JSON keeps its shape.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.config import parse_args, parse_size  # noqa: E402
from bench.report import markdown  # noqa: E402
from bench.results import Figure, Target, render_table, to_json  # noqa: E402
from bench.stats import percentile, summarise  # noqa: E402

RESULT_KEYS = {
    "name",
    "group",
    "description",
    "unit",
    "better",
    "median",
    "min",
    "max",
    "p25",
    "p75",
    "spread_pct",
    "runs",
    "samples",
    "baseline",
    "ratio",
    "versus",
    "target",
    "met",
    "context",
    "error",
}


def _tagged_processes(tag: str) -> list[int]:
    """Processes whose environment carries ``tag`` (the harness's descendants)."""
    found = []
    needle = f"WSEP_BENCH_TAG={tag}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if needle in f.read():
                    found.append(int(name))
        except OSError:
            continue
    return found


def test_smoke_run_measures_every_figure(tmp_path: pathlib.Path) -> None:
    tag = uuid.uuid4().hex
    env = {**os.environ, "WSEP_BENCH_TAG": tag}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    doc = json.loads((tmp_path / "latest.json").read_text())
    assert doc["schema"] == 1
    assert {"cpu_model", "cpus", "mem_total_mib", "kernel", "python"} <= set(doc["machine"])
    results = doc["results"]
    names = [r["name"] for r in results]
    assert len(names) == len(set(names))
    groups = {r["group"] for r in results}
    assert {"baseline", "throughput", "latency", "concurrency", "slow", "fleet"} <= groups
    for r in results:
        assert set(r) == RESULT_KEYS, r["name"]
        assert r["error"] is None, (r["name"], r["error"])
        assert r["median"] is not None, r["name"]
        assert r["runs"] >= 1, r["name"]
        assert r["name"] in proc.stdout
        if r["group"] in ("throughput", "latency", "concurrency", "slow"):
            assert r["baseline"] is not None, r["name"]
            assert r["ratio"] is not None, r["name"]
            assert r["baseline"]["name"] in names
        if r["versus"] is not None:
            assert r["versus"]["name"] in names
            assert r["versus"]["name"].startswith("ssh."), r["name"]
        if r["target"] is not None:
            assert isinstance(r["met"], bool)
    for expected in (
        "throughput.stdout.v2",
        "throughput.stdin.v1",
        "latency.true.v2.p50",
        "latency.tty_echo.p99",
        "concurrency.server_rss_mib",
        "slow.server_rss_growth",
        "baseline.pipe",
        "baseline.tcp",
        "fleet.true.3",
        "fleet.stream.3",
        "throughput.stdout.v2.tls",
        "throughput.stdin.v2.sdk.tls",
        "latency.true.v2.sdk.tls.p50",
        "cpu.server.stdout.v2",
        "throughput.stdout.v2.sdk.tuned",
    ):
        assert expected in names
    by_name = {r["name"]: r for r in results}
    no_ssh = [n for n in doc["config"]["notes"] if n.startswith("no ssh baseline")]
    if os.path.exists("/usr/sbin/sshd") and os.geteuid() == 0:  # CI installs openssh-server
        assert not no_ssh
    if not no_ssh:
        for name in ("ssh.stdout.default", "ssh.stdin.aes128-gcm", "ssh.cli_true.p50"):
            assert name in names
        assert by_name["throughput.stdout.v2"]["versus"]["name"] == "ssh.stdout.default"
        assert by_name["throughput.stdin.v2.tls"]["versus"]["name"] == "ssh.stdin.aes128-gcm"
        assert by_name["cpu.server.stdout.v2.tls"]["versus"]["ratio"] is not None
        assert by_name["latency.cli_run_true.p50"]["versus"]["name"] == "ssh.cli_true.p50"

    table = markdown(doc)  # the README's table is generated from this file
    assert all(f"`{name}`" in table for name in names)

    deadline = time.monotonic() + 15
    while (left := _tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"benchmark left processes behind: {left}"


def test_percentiles_and_spread() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 99) == 99.0
    s = summarise([10.0, 12.0, 8.0])
    assert (s.median, s.min, s.max, s.runs) == (10.0, 8.0, 12.0, 3)
    assert s.spread_pct == pytest.approx(40.0)
    assert summarise([5.0]).spread_pct is None


def test_figure_ratio_target_and_json_shape() -> None:
    base = Figure("baseline.pipe", "baseline", "pipe", "MiB/s", "higher", samples=[2000.0])
    fig = Figure(
        "throughput.stdout.v2",
        "throughput",
        "stdout",
        "MiB/s",
        "higher",
        samples=[900.0, 1000.0, 1100.0],
        baseline=base,
        target=Target(">=", 900),
    )
    missing = Figure("x", "latency", "x", "ms", "lower", error="boom", baseline=base)
    ssh = Figure("ssh.stdout.default", "ssh", "ssh", "MiB/s", "higher", samples=[400.0])
    fig.versus = ssh
    assert fig.versus_ratio == pytest.approx(2.5)
    assert fig.ratio == pytest.approx(0.5)
    assert fig.met is True
    assert missing.median is None
    assert missing.met is None
    doc = to_json({"cpus": 2}, {}, [base, fig, missing, ssh])
    json.dumps(doc, allow_nan=False)
    assert [set(r) for r in doc["results"]] == [RESULT_KEYS] * 4
    assert doc["results"][1]["versus"] == {
        "name": "ssh.stdout.default",
        "median": 400.0,
        "unit": "MiB/s",
        "ratio": 2.5,
    }
    assert doc["results"][1]["baseline"] == {
        "name": "baseline.pipe",
        "median": 2000.0,
        "unit": "MiB/s",
    }
    table = render_table([base, fig, missing, ssh])
    assert "0.5×" in table
    assert "2.5×" in table
    assert "ERROR" in table


def test_sizes_and_presets() -> None:
    assert parse_size("256M") == 256 << 20
    assert parse_size("1GiB") == 1 << 30
    assert parse_size("64k") == 64 << 10
    full, smoke = parse_args([]), parse_args(["--smoke", "--runs", "3"])
    assert (full.size, full.count, full.sessions) == (256 << 20, 1000, 1000)
    assert full.slow_size == 1 << 30
    assert full.cli_count == 50
    assert smoke.runs == 3
    assert smoke.size < full.size


def test_a_failing_server_leaves_errors_not_gaps(tmp_path: pathlib.Path) -> None:
    """A figure that cannot be measured keeps its entry, with the error; exit status 1."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--only",
            "throughput",
            "--client",
            "raw",
            "--no-tls",
            "--no-ssh",
            "--server-cmd",
            "{python} -c 'raise SystemExit(3)' {port}",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    results = json.loads((tmp_path / "latest.json").read_text())["results"]
    failed = {r["name"]: r for r in results if r["group"] == "throughput"}
    assert set(failed) == {f"throughput.{d}.v{v}" for d in ("stdout", "stdin") for v in (1, 2)}
    for r in failed.values():
        assert set(r) == RESULT_KEYS
        assert r["median"] is None
        assert "server exited with 3" in r["error"]
        assert r["met"] is None
    assert "ERROR" in proc.stdout
