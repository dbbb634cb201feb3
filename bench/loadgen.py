"""Many concurrent echo sessions: round-trip times, aggregate throughput, server memory.

Transport-agnostic: wsep sessions running ``cat`` and the raw-TCP baseline
both go through :func:`run_echo_load`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .procs import cpu_seconds, rss_mib
from .stats import percentile

__all__ = ["EchoConn", "run_echo_load"]


class EchoConn(Protocol):
    async def send(self) -> None:
        """Send one payload."""

    async def recv_len(self) -> int:
        """Bytes of the next chunk echoed back (0 at end of stream)."""

    async def finish(self) -> None:
        """End the session cleanly (and check it ended well)."""


async def run_echo_load(
    connect: Callable[[], Awaitable[EchoConn]],
    *,
    sessions: int,
    duration: float,
    payload: int,
    server_pid: int | None,
    setup_parallelism: int = 64,
    setup_timeout: float = 300.0,
) -> dict[str, Any]:
    """Open ``sessions`` sessions, then each echoes ``payload`` bytes in a loop for ``duration``."""
    rss_idle = rss_mib(server_pid) if server_pid else 0.0
    gate = asyncio.Semaphore(setup_parallelism)
    t_setup = time.perf_counter()

    async def open_one() -> EchoConn:
        async with gate:
            return await connect()

    conns = await asyncio.wait_for(
        asyncio.gather(*(open_one() for _ in range(sessions))), setup_timeout
    )
    setup_seconds = time.perf_counter() - t_setup
    rss_open = rss_mib(server_pid) if server_pid else 0.0
    rtts: list[float] = []
    echoed = 0
    server_cpu0 = cpu_seconds(server_pid) if server_pid else 0.0
    client_cpu0 = cpu_seconds()
    start = time.perf_counter()
    deadline = start + duration

    async def loop(conn: EchoConn) -> None:
        nonlocal echoed
        perf = time.perf_counter
        while perf() < deadline:
            t0 = perf()
            await conn.send()
            got = 0
            while got < payload:
                n = await conn.recv_len()
                if n == 0:
                    raise RuntimeError("echo session ended early")
                got += n
            rtts.append(perf() - t0)
            echoed += got

    await asyncio.gather(*(loop(c) for c in conns))
    elapsed = time.perf_counter() - start
    rss_busy = rss_mib(server_pid) if server_pid else 0.0
    hwm = rss_mib(server_pid, "VmHWM") if server_pid else 0.0
    server_cpu = (cpu_seconds(server_pid) if server_pid else 0.0) - server_cpu0
    client_cpu = cpu_seconds() - client_cpu0
    await asyncio.wait_for(asyncio.gather(*(c.finish() for c in conns)), setup_timeout)
    rtt_ms = [r * 1000 for r in rtts]
    return {
        "sessions": sessions,
        "payload": payload,
        "seconds": elapsed,
        "setup_seconds": setup_seconds,
        "round_trips": len(rtts),
        "mib_per_s": echoed / elapsed / (1 << 20),
        "round_trips_per_s": len(rtts) / elapsed,
        "rtt_p50_ms": percentile(rtt_ms, 50),
        "rtt_p99_ms": percentile(rtt_ms, 99),
        "server_rss_idle_mib": rss_idle,
        "server_rss_open_mib": rss_open,
        "server_rss_busy_mib": rss_busy,
        "server_hwm_mib": hwm,
        "server_rss_mib": max(rss_open, rss_busy, hwm),
        "per_session_kib": (max(rss_open, rss_busy) - rss_idle) * 1024 / sessions,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
        "client_rss_mib": rss_mib(),
    }
