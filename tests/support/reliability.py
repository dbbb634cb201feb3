"""Helpers for the reliability suite: work-sized time limits, a control client, figures.

Sizes: every suite has a CI size (the default, small enough for four CI runs
on two cores) and a full size (``WSEP_FULL=1``, ``nox -s reliability_full``).

Figures: :func:`record` prints one line per measurement and, when
``WSEP_RELIABILITY_REPORT`` names a file, appends it there as JSON, so a run
leaves the numbers the report quotes (cases tried, runs, bytes, leaks, latency).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from support import FULL, TIMEOUT
from support.rawws import RawWebSocket
from support.wire import collect, start_bytes

__all__ = [
    "DEFAULT_TEST_TIMEOUT",
    "LatencyProbe",
    "Serve",
    "gather_limited",
    "record",
    "roundtrip",
    "work_timeout",
]

T = TypeVar("T")

#: The ``serve`` fixture: ``url = await serve(**create_app_kwargs, runner_kwargs={...})``.
Serve = Callable[..., Awaitable[str]]

#: The suite's default per-test limit (pytest-timeout, pyproject.toml).
DEFAULT_TEST_TIMEOUT = 300.0


def work_timeout(units: int, seconds_each: float, base: float = 120.0) -> float:
    """A test's time limit from the work it does: ``units`` of ``seconds_each``.

    ``seconds_each`` is a generous budget for one unit on a loaded two-core
    machine (several times what it takes there), so the limit catches a hang,
    never a slow machine; it is never below the suite's default.
    """
    return max(DEFAULT_TEST_TIMEOUT, base + units * seconds_each)


def record(name: str, **figures: Any) -> None:
    """Print a measurement and append it to ``$WSEP_RELIABILITY_REPORT`` (JSON lines)."""
    line = {"test": name, "full": FULL, **figures}
    print(f"[reliability] {json.dumps(line, sort_keys=True)}")
    path = os.environ.get("WSEP_RELIABILITY_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")


async def roundtrip(url: str) -> float:
    """Seconds for one whole session (connect, start ``echo``, output, exit, close)."""
    t0 = time.perf_counter()
    ws = await RawWebSocket.connect(url)
    try:
        await ws.send_message(start_bytes("echo", "control"))
        res = await asyncio.wait_for(collect(ws), TIMEOUT)
    finally:
        await ws.aclose()
    elapsed = time.perf_counter() - t0
    assert res.stdout == b"control\n", res
    assert (res.exit or {}).get("exit_code") == 0, res
    return elapsed


@dataclass
class LatencyProbe:
    """Control-client round trips before, during and after hostile traffic."""

    url: str
    samples: dict[str, list[float]] = field(default_factory=dict)

    async def sample(self, phase: str, n: int = 1) -> float:
        for _ in range(n):
            self.samples.setdefault(phase, []).append(await roundtrip(self.url))
        return self.samples[phase][-1]

    async def during(self, work: Awaitable[T], phase: str = "during") -> T:
        """Run ``work`` while the control client keeps making round trips."""
        task = asyncio.ensure_future(work)
        try:
            await self.sample(phase)
            while not task.done():
                await self.sample(phase)
            return await task
        finally:
            if not task.done():
                task.cancel()

    def median_ms(self, phase: str) -> float:
        return round(statistics.median(self.samples[phase]) * 1000, 2)

    def max_ms(self, phase: str) -> float:
        return round(max(self.samples[phase]) * 1000, 2)

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            phase: {
                "n": len(values),
                "median_ms": self.median_ms(phase),
                "max_ms": self.max_ms(phase),
            }
            for phase, values in self.samples.items()
        }


async def gather_limited(n: int, jobs: list[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run ``jobs`` with at most ``n`` at a time, in order of the results."""
    sem = asyncio.Semaphore(n)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with sem:
            return await job()

    return await asyncio.gather(*(one(j) for j in jobs))
