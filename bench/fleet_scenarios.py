"""Client side of the fleet figures (run in a worker): one command on many targets."""

from __future__ import annotations

import time
from typing import Any

from .stats import percentile

__all__ = ["SCENARIOS"]

Params = dict[str, Any]


def _targets(p: Params) -> list[Any]:
    """``count`` targets over the servers in ``url`` (comma-separated), round robin."""
    from wsep_client import Target

    urls = str(p["url"]).split(",")
    return [Target(f"t{i}", urls[i % len(urls)]) for i in range(int(p["count"]))]


async def fleet_true(p: Params) -> dict[str, Any]:
    """Wall time of ``Fleet.run("true")`` on ``count`` targets (p50 of ``repeat``)."""
    from wsep_client import Fleet

    targets = _targets(p)
    times = []
    async with Fleet(targets, concurrency=len(targets)) as fleet:
        for i in range(int(p["repeat"]) + 1):
            t0 = time.perf_counter()
            results = await fleet.run("true")
            elapsed = (time.perf_counter() - t0) * 1000
            if len(results.succeeded) != len(targets):
                raise RuntimeError(f"fleet run failed: {[str(r.error) for r in results.failed]}")
            if i:  # the first run warms up the pool and the servers
                times.append(elapsed)
    return {"ms": percentile(times, 50)}


async def fleet_stream(p: Params) -> dict[str, Any]:
    """``head -c size`` streamed from ``count`` targets at once; aggregate MiB/s."""
    from wsep_client import Fleet

    targets = _targets(p)
    size = int(p["size"])
    got = {t.name: 0 for t in targets}
    async with Fleet(targets, concurrency=len(targets)) as fleet:
        t0 = time.perf_counter()
        async with fleet.stream("head", "-c", str(size), "/dev/zero", lines=False) as chunks:
            async for target, _stream, data in chunks:
                got[target.name] += len(data)
        elapsed = time.perf_counter() - t0
    assert chunks.results is not None
    if len(chunks.results.succeeded) != len(targets) or set(got.values()) != {size}:
        raise RuntimeError(f"fleet stream incomplete: {got}")
    return {"mib_s": len(targets) * size / (1 << 20) / elapsed}


SCENARIOS = {"fleet_true": fleet_true, "fleet_stream": fleet_stream}
