"""Soak test: mixed load on a real ``python -m wsep_server`` for a long time (not in CI).

    python soak/soak.py --duration 1800          # nox -s soak (30 minutes)
    python soak/soak.py --duration 180 --clients 16

Mixed load, every kind checked: short commands with exit codes, bulk output
(byte counts), stdin round trips, TTY sessions, processes abandoned
mid-stream, malformed messages, and connections dropped at random. Every
``--interval`` seconds the server's RSS, open fds and child processes are
sampled. At the end the least-squares slopes of RSS and fds (per minute, over
the whole run, after a warm-up of the first 20%, and over the second half) are printed and written
as JSON to ``soak-results/``. The exit status is 1 when any operation failed
or a child process outlived the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["main", "slope"]


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(x, y)`` points (0 for fewer than two)."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


@dataclass
class Stats:
    ops: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    bytes: int = 0

    def ok(self, kind: str, nbytes: int = 0) -> None:
        self.ops[kind] = self.ops.get(kind, 0) + 1
        self.bytes += nbytes

    def fail(self, kind: str, detail: str) -> None:
        self.failures.append(f"{kind}: {detail}")
        if len(self.failures) <= 20:
            print(f"soak: FAILED {kind}: {detail}", file=sys.stderr, flush=True)


@dataclass
class Sample:
    t: float
    rss_kib: int
    fds: int
    children: int


def sample(pid: int, t0: float) -> Sample:
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return Sample(round(time.monotonic() - t0, 2), rss, fds, len(children(pid)))


def children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    raw = f.read()
            except OSError:
                continue
            if int(raw[raw.rindex(b")") + 2 :].split()[1]) == pid:
                out.append(int(name))
    return out


async def worker(url: str, stop: float, stats: Stats, rng: random.Random) -> None:
    import aiohttp
    from wsep_client import RemoteExecer

    async with aiohttp.ClientSession() as session:
        execer = RemoteExecer(url, http_session=session)
        while time.monotonic() < stop:
            kind = rng.choice(
                ["short", "short", "short", "bulk", "stdin", "tty", "abandon", "hostile", "drop"]
            )
            try:
                await asyncio.wait_for(one(kind, url, execer, session, stats, rng), 120)
            except Exception as exc:
                stats.fail(kind, repr(exc))


async def one(
    kind: str, url: str, execer: object, session: object, stats: Stats, rng: random.Random
) -> None:
    import aiohttp
    from wsep_client import RemoteExecer

    assert isinstance(execer, RemoteExecer)
    assert isinstance(session, aiohttp.ClientSession)
    if kind == "short":
        code = rng.randrange(256)
        r = await execer.run("sh", "-c", f'echo "$0"; exit {code}', "soak")
        if (r.stdout, r.returncode) != (b"soak\n", code):
            raise AssertionError((r.stdout[:50], r.returncode, code))
        stats.ok(kind, len(r.stdout))
    elif kind == "bulk":
        n = rng.choice([0, 1, 65_535, 1_000_000, 5_000_000])
        r = await execer.run("head", "-c", str(n), "/dev/zero")
        if len(r.stdout) != n or r.stdout.count(0) != n or r.returncode != 0:
            raise AssertionError((len(r.stdout), n, r.returncode))
        stats.ok(kind, n)
    elif kind == "stdin":
        data = rng.randbytes(rng.randrange(200_000))
        r = await execer.run("cat", input=data)
        if r.stdout != data or r.returncode != 0:
            raise AssertionError((len(r.stdout), len(data), r.returncode))
        stats.ok(kind, 2 * len(data))
    elif kind == "tty":
        r = await execer.run("stty", "size", tty=True, rows=33, cols=101)
        if r.stdout.strip() != b"33 101" or r.returncode != 0:
            raise AssertionError((r.stdout, r.returncode))
        stats.ok(kind, len(r.stdout))
    elif kind == "abandon":
        process = await execer.create_process("yes", "abandoned")
        await process.stdout.readexactly(rng.randrange(1, 200_000))
        await process.close()
        stats.ok(kind)
    elif kind == "hostile":
        async with session.ws_connect(url) as ws:
            await ws.send_bytes(rng.choice([b"{not json", b'{"type":"start"}', b"\xff\xfe"]))
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.CLOSE or msg.data not in (1002, 1007):
                raise AssertionError((msg.type, msg.data))
        stats.ok(kind)
    else:  # drop: start something, then vanish without a close
        ws = await session.ws_connect(url)
        await ws.send_bytes(b'{"type":"start","command":{"command":"sleep","args":["30"]}}')
        await ws.receive()  # pid
        transport = ws._response.connection.transport  # type: ignore[union-attr]
        if transport is not None:
            transport.abort()
        await ws.close()
        stats.ok(kind)


def start_server() -> subprocess.Popen[bytes]:
    env = {**os.environ, "WSEP_EXIT_LINGER": "5"}
    return subprocess.Popen(
        [sys.executable, "-m", "wsep_server", "--host", "127.0.0.1", "--port", "0",
         "--log-level", "warning", "--grace-period", "3"],
        stdout=subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip


async def run(args: argparse.Namespace, server: subprocess.Popen[bytes]) -> int:
    assert server.stdout is not None
    url = server.stdout.readline().decode().split()[-1]
    print(f"soak: server pid {server.pid} at {url}; {args.duration:g} s, {args.clients} clients")
    stats = Stats()
    samples: list[Sample] = []
    t0 = time.monotonic()
    stop = t0 + args.duration
    rng = random.Random(args.seed)
    workers = [
        asyncio.ensure_future(worker(url, stop, stats, random.Random(rng.random())))
        for _ in range(args.clients)
    ]
    try:
        while time.monotonic() < stop:
            samples.append(sample(server.pid, t0))
            last = samples[-1]
            if len(samples) % max(1, int(60 / args.interval)) == 1:
                print(
                    f"soak: t={last.t:7.1f}s rss={last.rss_kib} KiB fds={last.fds} "
                    f"children={last.children} ops={sum(stats.ops.values())} "
                    f"failures={len(stats.failures)}",
                    flush=True,
                )
            await asyncio.sleep(min(args.interval, max(0.0, stop - time.monotonic())))
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
    # Quiet: let every abandoned session finish, then take the last sample.
    deadline = time.monotonic() + 30
    while children(server.pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    samples.append(sample(server.pid, t0))
    leaked = children(server.pid)
    server.send_signal(signal.SIGTERM)
    rc = await asyncio.to_thread(server.wait, 30)

    warm = [s for s in samples if s.t >= 0.2 * args.duration]
    late = [s for s in samples if s.t >= 0.5 * args.duration]
    per_min = 60.0
    report = {
        "duration_s": args.duration,
        "clients": args.clients,
        "ops": stats.ops,
        "ops_total": sum(stats.ops.values()),
        "bytes_checked": stats.bytes,
        "failures": len(stats.failures),
        "failure_examples": stats.failures[:20],
        "leaked_children": leaked,
        "server_exit": rc,
        "rss_kib_first_last": [samples[0].rss_kib, samples[-1].rss_kib],
        "fds_first_last": [samples[0].fds, samples[-1].fds],
        "rss_slope_kib_per_min": round(slope([(s.t, s.rss_kib) for s in samples]) * per_min, 2),
        "fd_slope_per_min": round(slope([(s.t, s.fds) for s in samples]) * per_min, 4),
        "rss_slope_after_warmup_kib_per_min": round(
            slope([(s.t, s.rss_kib) for s in warm]) * per_min, 2
        ),
        "fd_slope_after_warmup_per_min": round(slope([(s.t, s.fds) for s in warm]) * per_min, 4),
        "rss_slope_second_half_kib_per_min": round(
            slope([(s.t, s.rss_kib) for s in late]) * per_min, 2
        ),
        "fd_slope_second_half_per_min": round(slope([(s.t, s.fds) for s in late]) * per_min, 4),
        "samples": [asdict(s) for s in samples],
    }
    out = ROOT / "soak-results"
    out.mkdir(exist_ok=True)
    path = out / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=1))
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    print(f"soak: samples and figures in {path}")
    return 1 if stats.failures or leaked or rc != 0 else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=1800.0, help="seconds of load")
    p.add_argument("--clients", type=int, default=24, help="concurrent client loops")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between samples")
    p.add_argument("--seed", type=int, default=1, help="random seed of the load mix")
    args = p.parse_args(argv)
    server = start_server()
    try:
        return asyncio.run(run(args, server))
    except KeyboardInterrupt:
        return 130
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


if __name__ == "__main__":
    sys.exit(main())
