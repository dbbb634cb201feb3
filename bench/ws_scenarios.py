"""Client-side scenarios over the raw-WebSocket load generator (no SDK needed).

Each scenario takes a parameter dict and returns a JSON-able dict; per-run
results are lists so the harness can take medians and spread.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wsep_protocol import STDIN_HEADER

from .loadgen import run_echo_load
from .procs import cpu_seconds, reset_peak_rss, rss_mib
from .stats import percentile
from .wsraw import ProcessFailed, WsProcess, data_size_for, open_session, sleep_until

__all__ = ["SCENARIOS"]

Params = dict[str, Any]


def _cpu(pid: int | None) -> float:
    return cpu_seconds(pid) if pid else 0.0


async def stdout_throughput(p: Params) -> dict[str, Any]:
    """``head -c SIZE /dev/zero``: stdout to the client, byte count checked."""
    size, version, pid = int(p["size"]), int(p["version"]), p.get("server_pid")
    runs = []
    async with open_session(ca=p.get("ca")) as session:
        for i in range(int(p.get("warmup", 1)) + int(p["runs"])):
            c0, s0, t0 = cpu_seconds(), _cpu(pid), time.perf_counter()
            proc = await WsProcess.start(
                session, p["url"], version, ["head", "-c", str(size), "/dev/zero"]
            )
            n = await proc.count_stdout()
            seconds = time.perf_counter() - t0
            c1, s1 = cpu_seconds(), _cpu(pid)
            await proc.close()
            proc.check_ok("head")
            if n != size:
                raise ProcessFailed(f"stdout: got {n} bytes, expected {size}")
            if i >= int(p.get("warmup", 1)):
                runs.append({"seconds": seconds, "client_cpu_s": c1 - c0, "server_cpu_s": s1 - s0})
    return {"runs": runs, "client_hwm_mib": rss_mib("self", "VmHWM")}


async def stdin_throughput(p: Params) -> dict[str, Any]:
    """SIZE bytes into ``wc -c`` in the largest messages the version allows; count checked."""
    size, version, pid = int(p["size"]), int(p["version"]), p.get("server_pid")
    chunk = int(p.get("chunk") or data_size_for(version))
    message = STDIN_HEADER + bytes(chunk)
    tail = STDIN_HEADER + bytes(size % chunk)
    runs = []
    async with open_session(ca=p.get("ca")) as session:
        for i in range(int(p.get("warmup", 1)) + int(p["runs"])):
            c0, s0, t0 = cpu_seconds(), _cpu(pid), time.perf_counter()
            proc = await WsProcess.start(session, p["url"], version, ["wc", "-c"], stdin=True)
            for _ in range(size // chunk):
                await proc.send_stdin(message)
            if size % chunk:
                await proc.send_stdin(tail)
            await proc.close_stdin()
            out = bytearray()
            while (data := await proc.read_stdout()) is not None:
                out += data
            seconds = time.perf_counter() - t0
            c1, s1 = cpu_seconds(), _cpu(pid)
            await proc.close()
            proc.check_ok("wc -c")
            if out.strip() != str(size).encode():
                raise ProcessFailed(f"stdin: wc counted {bytes(out)!r}, expected {size}")
            if i >= int(p.get("warmup", 1)):
                runs.append({"seconds": seconds, "client_cpu_s": c1 - c0, "server_cpu_s": s1 - s0})
    return {"runs": runs, "client_hwm_mib": rss_mib("self", "VmHWM")}


async def true_latency(p: Params) -> dict[str, Any]:
    """Start → exit code of ``true``, each on a new WebSocket (as v1 requires)."""
    version, count = int(p["version"]), int(p["count"])
    runs = []
    async with open_session(ca=p.get("ca")) as session:
        for _ in range(int(p.get("warmup", 20))):
            proc = await WsProcess.start(session, p["url"], version, ["true"])
            await proc.wait()
            await proc.close()
        for _ in range(int(p["runs"])):
            samples = []
            for _ in range(count):
                t0 = time.perf_counter()
                proc = await WsProcess.start(session, p["url"], version, ["true"])
                await proc.wait()
                samples.append((time.perf_counter() - t0) * 1000)
                await proc.close()
                proc.check_ok("true")
            runs.append({"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)})
    return {"runs": runs}


#: A TTY in raw mode without echo, the process echoing each byte: the path of a keystroke
#: to an interactive shell and back. ``dd`` reads and writes one byte at a time.
def tty_echo_argv(count: int) -> list[str]:
    return ["sh", "-c", f"stty raw -echo && printf R && exec dd bs=1 count={count} status=none"]


async def tty_echo(p: Params) -> dict[str, Any]:
    """Keystroke echo round trip through a TTY: one byte in, the same byte back."""
    version, count = int(p["version"]), int(p["count"])
    warm = int(p.get("warmup", 20))
    runs = []
    async with open_session(ca=p.get("ca")) as session:
        for _ in range(int(p["runs"])):
            proc = await WsProcess.start(
                session, p["url"], version, tty_echo_argv(count + warm), tty=True
            )
            ready = 0
            while ready < 1:
                n = await proc.read_len()
                if n is None:
                    raise ProcessFailed(f"tty: ended before ready: {proc.exit!r}")
                ready += n
            key = STDIN_HEADER + b"x"
            samples = []
            for i in range(count + warm):
                t0 = time.perf_counter()
                await proc.send_stdin(key)
                got = 0
                while got < 1:
                    n = await proc.read_len()
                    if n is None:
                        raise ProcessFailed(f"tty: ended early: {proc.exit!r}")
                    got += n
                if i >= warm:
                    samples.append((time.perf_counter() - t0) * 1000)
            await proc.wait()
            await proc.close()
            runs.append({"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)})
    return {"runs": runs}


class _WsEcho:
    def __init__(self, proc: WsProcess, message: bytes) -> None:
        self.proc, self.message = proc, message

    async def send(self) -> None:
        await self.proc.send_stdin(self.message)

    async def recv_len(self) -> int:
        n = await self.proc.read_len()
        return 0 if n is None else n

    async def finish(self) -> None:
        await self.proc.close_stdin()
        await self.proc.wait()
        await self.proc.close()
        self.proc.check_ok("cat")


async def concurrent_echo(p: Params) -> dict[str, Any]:
    """SESSIONS concurrent ``cat`` sessions, each echoing PAYLOAD bytes in a loop."""
    version, payload = int(p["version"]), int(p["payload"])
    message = STDIN_HEADER + b"e" * payload
    runs = []
    async with open_session(ca=p.get("ca")) as session:

        async def connect() -> _WsEcho:
            proc = await WsProcess.start(session, p["url"], version, ["cat"], stdin=True)
            return _WsEcho(proc, message)

        for _ in range(int(p["runs"])):
            runs.append(
                await run_echo_load(
                    connect,
                    sessions=int(p["sessions"]),
                    duration=float(p["duration"]),
                    payload=payload,
                    server_pid=p.get("server_pid"),
                )
            )
            await asyncio.sleep(0.5)  # let the server reap before the next run
    return {"runs": runs}


async def slow_consumer(p: Params) -> dict[str, Any]:
    """SIZE bytes of output read at RATE bytes/s: peak RSS growth of server and client."""
    size, rate, version = int(p["size"]), float(p["rate"]), int(p["version"])
    pid = p.get("server_pid")
    async with open_session(ca=p.get("ca")) as session:
        proc = await WsProcess.start(
            session, p["url"], version, ["head", "-c", str(size), "/dev/zero"]
        )
        # Baselines once the session is up: growth is what the transfer adds.
        reset_peak_rss("self")
        client_before = rss_mib()
        server_before = rss_mib(pid) if pid else 0.0
        server_reset = reset_peak_rss(pid) if pid else False
        server_peak = server_before
        t0 = time.perf_counter()
        got, next_sample = 0, t0
        while (n := await proc.read_len()) is not None:
            got += n
            now = time.perf_counter()
            if pid and now >= next_sample:
                server_peak = max(server_peak, rss_mib(pid))
                next_sample = now + 0.1
            await sleep_until(t0 + got / rate)
        seconds = time.perf_counter() - t0
        if pid:
            server_peak = max(server_peak, rss_mib(pid), rss_mib(pid, "VmHWM"))
        client_peak = max(rss_mib("self", "VmHWM"), rss_mib())
        await proc.close()
        proc.check_ok("head")
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
            }
        ]
    }


SCENARIOS = {
    "ws_stdout": stdout_throughput,
    "ws_stdin": stdin_throughput,
    "ws_true": true_latency,
    "ws_tty_echo": tty_echo,
    "ws_concurrent_echo": concurrent_echo,
    "ws_slow_consumer": slow_consumer,
}
