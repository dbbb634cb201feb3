"""Client-side scenarios through the client SDK (``wsep_client.connect``) and its CLI.

The same work as :mod:`bench.ws_scenarios`, the way an application does it:
``create_process`` and the stream API, ``run()``, ``wsep run``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import wsep_client
from wsep_client import RemoteExecer, RemoteProcess
from wsep_protocol import ProtocolVersion

from .loadgen import run_echo_load
from .procs import cpu_seconds, reset_peak_rss, rss_mib
from .stats import percentile
from .tls import client_context
from .ws_scenarios import tty_echo_argv
from .wsraw import ProcessFailed, sleep_until

__all__ = ["SCENARIOS", "cli_argv"]

Params = dict[str, Any]
READ_SIZE = 1 << 20


def cli_argv(url: str, argv: list[str], ca: str | None = None) -> list[str]:
    """``wsep run --url URL -- ARGV``, with the ``wsep`` script of this environment."""
    from .harness import which

    script = which("wsep")
    head = [script] if script else [sys.executable, "-m", "wsep_client"]
    tls = ["--cacert", ca] if ca else []
    return [*head, "run", *tls, "--url", url, "--", *argv]


def _cpu(pid: int | None) -> float:
    return cpu_seconds(pid) if pid else 0.0


@asynccontextmanager
async def _remote(p: Params, *, many: bool = False) -> AsyncIterator[RemoteExecer]:
    version = ProtocolVersion.V1 if int(p.get("version", 2)) == 1 else ProtocolVersion.V2
    ssl = client_context(p.get("ca")) or True
    if not many:
        async with wsep_client.connect(p["url"], version=version, ssl=ssl) as remote:
            yield remote
        return
    # Many concurrent processes: aiohttp's default connector allows only 100
    # connections per session, and every process holds one.
    connector = aiohttp.TCPConnector(limit=0)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        wsep_client.connect(p["url"], version=version, http_session=session, ssl=ssl) as remote,
    ):
        yield remote


async def _finish(proc: RemoteProcess, what: str) -> None:
    code = await proc.wait()
    await proc.close()
    if code != 0:
        raise ProcessFailed(f"{what}: {proc.exit_status!r}")


async def stdout_throughput(p: Params) -> dict[str, Any]:
    size, pid = int(p["size"]), p.get("server_pid")
    runs = []
    async with _remote(p) as remote:
        for i in range(int(p.get("warmup", 1)) + int(p["runs"])):
            c0, s0, t0 = cpu_seconds(), _cpu(pid), time.perf_counter()
            proc = await remote.create_process("head", "-c", str(size), "/dev/zero", stdin=False)
            n = 0
            while data := await proc.stdout.read(READ_SIZE):
                n += len(data)
            await _finish(proc, "head")
            seconds = time.perf_counter() - t0
            c1, s1 = cpu_seconds(), _cpu(pid)
            if n != size:
                raise ProcessFailed(f"stdout: got {n} bytes, expected {size}")
            if i >= int(p.get("warmup", 1)):
                runs.append({"seconds": seconds, "client_cpu_s": c1 - c0, "server_cpu_s": s1 - s0})
    return {"runs": runs, "client_hwm_mib": rss_mib("self", "VmHWM")}


async def stdin_throughput(p: Params) -> dict[str, Any]:
    size, pid = int(p["size"]), p.get("server_pid")
    block = bytes(READ_SIZE)
    runs = []
    async with _remote(p) as remote:
        for i in range(int(p.get("warmup", 1)) + int(p["runs"])):
            c0, s0, t0 = cpu_seconds(), _cpu(pid), time.perf_counter()
            proc = await remote.create_process("wc", "-c", stdin=True)
            left = size
            while left:
                n = min(left, len(block))
                proc.stdin.write(block if n == len(block) else block[:n])
                await proc.stdin.drain()
                left -= n
            proc.stdin.close()
            out = await proc.stdout.read()
            await _finish(proc, "wc -c")
            seconds = time.perf_counter() - t0
            c1, s1 = cpu_seconds(), _cpu(pid)
            if out.strip() != str(size).encode():
                raise ProcessFailed(f"stdin: wc counted {out!r}, expected {size}")
            if i >= int(p.get("warmup", 1)):
                runs.append({"seconds": seconds, "client_cpu_s": c1 - c0, "server_cpu_s": s1 - s0})
    return {"runs": runs, "client_hwm_mib": rss_mib("self", "VmHWM")}


async def true_latency(p: Params) -> dict[str, Any]:
    """``await remote.run("true")`` on an open client, start to exit as the caller sees it."""
    count = int(p["count"])
    runs = []
    async with _remote(p) as remote:
        for _ in range(int(p.get("warmup", 20))):
            await remote.run("true", check=True)
        for _ in range(int(p["runs"])):
            samples = []
            for _ in range(count):
                t0 = time.perf_counter()
                await remote.run("true", check=True)
                samples.append((time.perf_counter() - t0) * 1000)
            runs.append({"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)})
    return {"runs": runs}


async def tty_echo(p: Params) -> dict[str, Any]:
    count, warm = int(p["count"]), int(p.get("warmup", 20))
    runs = []
    async with _remote(p) as remote:
        for _ in range(int(p["runs"])):
            argv = tty_echo_argv(count + warm)
            proc = await remote.create_process(argv[0], *argv[1:], tty=True, rows=24, cols=80)
            if not await proc.stdout.read(1):
                raise ProcessFailed("tty: ended before ready")
            samples = []
            for i in range(count + warm):
                t0 = time.perf_counter()
                proc.stdin.write(b"x")
                await proc.stdin.drain()
                if not await proc.stdout.read(64):
                    raise ProcessFailed("tty: ended early")
                if i >= warm:
                    samples.append((time.perf_counter() - t0) * 1000)
            await _finish(proc, "tty echo")
            runs.append({"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)})
    return {"runs": runs}


class _SdkEcho:
    def __init__(self, proc: RemoteProcess, payload: bytes) -> None:
        self.proc, self.payload = proc, payload

    async def send(self) -> None:
        self.proc.stdin.write(self.payload)
        await self.proc.stdin.drain()

    async def recv_len(self) -> int:
        return len(await self.proc.stdout.read(65536))

    async def finish(self) -> None:
        self.proc.stdin.close()
        await _finish(self.proc, "cat")


async def concurrent_echo(p: Params) -> dict[str, Any]:
    payload = b"e" * int(p["payload"])
    runs = []
    async with _remote(p, many=True) as remote:

        async def connect() -> _SdkEcho:
            return _SdkEcho(await remote.create_process("cat", stdin=True), payload)

        for _ in range(int(p["runs"])):
            runs.append(
                await run_echo_load(
                    connect,
                    sessions=int(p["sessions"]),
                    duration=float(p["duration"]),
                    payload=len(payload),
                    server_pid=p.get("server_pid"),
                )
            )
            await asyncio.sleep(0.5)
    return {"runs": runs}


async def slow_consumer(p: Params) -> dict[str, Any]:
    size, rate, pid = int(p["size"]), float(p["rate"]), p.get("server_pid")
    async with _remote(p) as remote:
        proc = await remote.create_process("head", "-c", str(size), "/dev/zero", stdin=False)
        reset_peak_rss("self")
        client_before = rss_mib()
        server_before = rss_mib(pid) if pid else 0.0
        server_reset = reset_peak_rss(pid) if pid else False
        server_peak = server_before
        t0 = time.perf_counter()
        got, next_sample = 0, t0
        while data := await proc.stdout.read(READ_SIZE):
            got += len(data)
            del data
            now = time.perf_counter()
            if pid and now >= next_sample:
                server_peak = max(server_peak, rss_mib(pid))
                next_sample = now + 0.1
            await sleep_until(t0 + got / rate)
        seconds = time.perf_counter() - t0
        if pid:
            server_peak = max(server_peak, rss_mib(pid), rss_mib(pid, "VmHWM"))
        client_peak = max(rss_mib("self", "VmHWM"), rss_mib())
        peak_buffered = proc.stdout.peak_buffered
        await _finish(proc, "head")
        if got != size:
            raise ProcessFailed(f"slow consumer: got {got} bytes, expected {size}")
    return {
        "runs": [
            {
                "seconds": seconds,
                "mib_per_s": size / seconds / (1 << 20),
                "server_before_mib": server_before,
                "server_peak_mib": server_peak,
                "server_growth_mib": server_peak - server_before,
                "server_peak_reset": server_reset,
                "client_before_mib": client_before,
                "client_peak_mib": client_peak,
                "client_growth_mib": client_peak - client_before,
                "client_peak_buffered_mib": peak_buffered / (1 << 20),
            }
        ]
    }


SCENARIOS = {
    "sdk_stdout": stdout_throughput,
    "sdk_stdin": stdin_throughput,
    "sdk_true": true_latency,
    "sdk_tty_echo": tty_echo,
    "sdk_concurrent_echo": concurrent_echo,
    "sdk_slow_consumer": slow_consumer,
}
