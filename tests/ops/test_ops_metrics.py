"""Prometheus metrics scraped from a real server after real sessions."""

from __future__ import annotations

import asyncio
import os
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wsep_client
from prometheus_client.parser import text_string_to_metric_families
from support.ops import TOKEN_A, Server, wait_until
from wsep_client import ResumeOptions
from wsep_server.auth import hash_token

_ROOT = "uids = [0]\n" if os.geteuid() == 0 else ""
POLICY = (
    f'[default]\ncommands = ["/usr/bin/echo", "/bin/echo", "/usr/bin/head", "/bin/head"]\n{_ROOT}'
)
JOB_BYTES = 5_000_000  # past the 4 MiB ring of a detached job


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_after_real_sessions(
    tmp_path: Path, run_server: Callable[..., Server]
) -> None:
    tokens, policy = tmp_path / "tokens", tmp_path / "policy.toml"
    tokens.write_text(f"alice {hash_token(TOKEN_A)}\n")
    policy.write_text(POLICY)
    srv = run_server(
        "--port", "0", "--token-file", str(tokens), "--policy", str(policy),
        "--metrics-listen", "127.0.0.1:0",
    )  # fmt: skip
    found = re.search(
        r"serving metrics on (http://127\.0\.0\.1:\d+/metrics)", srv.wait_log("metrics")
    )
    assert found is not None
    metrics_url = found.group(1)
    before = scrape(metrics_url)
    assert value(before, "wsep_processes_active") == 0

    async with wsep_client.connect(srv.url, token=TOKEN_A) as remote:
        assert (await remote.run("echo", "hello", timeout=60)).stdout == b"hello\n"
        with pytest.raises(wsep_client.StartFailed, match="not allowed"):
            await remote.run("true", timeout=60)
        job = await remote.create_process(
            "head", "-c", str(JOB_BYTES), "/dev/zero", stdin=False, session_id="job",
            resumable=True,
        )  # fmt: skip
        await job.close()  # detached: the ring evicts what nobody reads

        async def exited() -> None:
            while (await remote.session_info("job")).state != "exited":
                await asyncio.sleep(0.05)

        await asyncio.wait_for(exited(), 60)
        again = await remote.attach(
            "job", offsets={"stdout": 0, "stderr": 0}, resume=ResumeOptions(on_gap="mark")
        )
        out = await asyncio.wait_for(again.stdout.read(), 60)
        await asyncio.wait_for(again.wait(), 60)
        await again.close()
        assert 0 < len(out) < JOB_BYTES
    for token in ("wrong-token-0123456789abcdef", None):
        with pytest.raises(wsep_client.AuthenticationError):
            async with wsep_client.connect(srv.url, token=token) as remote:
                await remote.run("echo", timeout=60)

    def settled() -> dict[Any, float] | None:
        now = scrape(metrics_url)
        return now if value(now, "wsep_connections_ended_total", reason="exited") >= 1 else None

    got = await asyncio.to_thread(wait_until, settled, "ended connections in the metrics")
    assert value(got, "wsep_processes_started_total") >= 2
    assert value(got, "wsep_processes_active") == 0
    assert value(got, "wsep_policy_refusals_total") == 1
    assert value(got, "wsep_connections_ended_total", reason="policy") == 1
    assert value(got, "wsep_close_codes_total", code="1008") >= 1
    # The old names stay served, with the same counts, until they are removed.
    assert value(got, "wsep_sessions_started_total") == value(got, "wsep_processes_started_total")
    assert value(got, "wsep_sessions_ended_total", reason="policy") == 1
    assert value(got, "wsep_bytes_out_total") >= 6 + len(out)
    assert value(got, "wsep_spawn_seconds_count") >= 2
    assert value(got, "wsep_spawn_seconds_bucket", le="+Inf") == value(
        got, "wsep_spawn_seconds_count"
    )
    assert value(got, "wsep_auth_failures_total", method="bearer", reason="invalid token") == 1
    assert (
        value(got, "wsep_auth_failures_total", method="none", reason="authentication required") == 1
    )
    assert value(got, "wsep_reattaches_total") == 1
    assert value(got, "wsep_ring_evictions_total") >= 1
    assert value(got, "wsep_ring_evicted_bytes_total") >= JOB_BYTES - (4 << 20)
    assert value(got, "wsep_output_gaps_total") == 1
    assert value(got, "wsep_connections_total") >= 6
    assert value(got, "wsep_connections_active") == 0


def test_metrics_refuse_a_public_address(capsys: pytest.CaptureFixture[str]) -> None:
    from wsep_server.cli import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--metrics-listen", "0.0.0.0:9100"])
    err = capsys.readouterr().err
    assert "--metrics-listen 0.0.0.0: metrics are served without authentication" in err


async def test_a_failing_metrics_hook_does_not_end_a_session(make_server: Any) -> None:
    from wsep_server.metrics import Metrics

    class Broken(Metrics):
        def on_start(self, record: Any) -> None:
            raise RuntimeError("metrics broke")

        def on_end(self, record: Any) -> None:
            raise RuntimeError("metrics broke")

    metrics = Broken()
    url = await make_server(observers=[metrics], middlewares=[metrics.middleware()])
    async with wsep_client.connect(url) as remote:
        result = await remote.run("echo", "fine", timeout=60)
    assert result.stdout == b"fine\n"
    assert result.returncode == 0
