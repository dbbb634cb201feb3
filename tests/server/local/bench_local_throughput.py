"""Throughput of the local execer's output path (a script, not a test).

    python tests/server/local/bench_local_throughput.py [MiB] [--tune-malloc]

Moves MiB (default 256) from ``head -c`` through ``read_message`` (what the
server does per WebSocket message) and, in the same run, ``head -c | cat >
/dev/null`` as the ceiling the kernel and coreutils allow.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time

from wsep_protocol import Command
from wsep_server.local import LocalExecer
from wsep_server.local.malloc import tune_malloc

HEADER = b'{"type":"stdout"}\n'
MAX_MESSAGE = 1 << 20


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def through_execer(size: int, *, tty: bool = False) -> tuple[float, float]:
    execer = LocalExecer()
    began, cpu0 = time.perf_counter(), cpu()
    proc = await execer.start(Command("head", ("-c", str(size), "/dev/zero"), tty=tty))
    total = 0
    read_message = proc.stdout.read_message
    while msg := await read_message(HEADER, MAX_MESSAGE):
        total += len(msg) - len(HEADER)
    await proc.wait()
    await proc.close()
    assert total == size, total
    return time.perf_counter() - began, cpu() - cpu0


async def through_read(size: int) -> tuple[float, float]:
    execer = LocalExecer()
    began, cpu0 = time.perf_counter(), cpu()
    proc = await execer.start(Command("head", ("-c", str(size), "/dev/zero")))
    total = 0
    while chunk := await proc.stdout.read(MAX_MESSAGE):
        total += len(chunk)
    await proc.close()
    assert total == size
    return time.perf_counter() - began, cpu() - cpu0


async def into_stdin(size: int) -> tuple[float, float]:
    execer = LocalExecer()
    chunk = bytes(MAX_MESSAGE)
    began, cpu0 = time.perf_counter(), cpu()
    proc = await execer.start(Command("sh", ("-c", "cat > /dev/null"), stdin=True))
    for _ in range(size // MAX_MESSAGE):
        proc.stdin.write(chunk)
        await proc.stdin.drain()
    proc.stdin.close()
    await proc.wait()
    await proc.close()
    return time.perf_counter() - began, cpu() - cpu0


def shell_pipeline(size: int) -> float:
    began = time.perf_counter()
    subprocess.run(f"head -c {size} /dev/zero | cat > /dev/null", shell=True, check=True)
    return time.perf_counter() - began


async def spawn_rate(n: int) -> float:
    execer = LocalExecer()
    began = time.perf_counter()
    for _ in range(n):
        proc = await execer.start(Command("true"))
        await proc.wait()
        while await proc.stdout.read_message(HEADER, MAX_MESSAGE):
            pass
        await proc.close()
    return (time.perf_counter() - began) / n


def main() -> None:
    mib = int(next((a for a in sys.argv[1:] if a.isdigit()), "256"))
    if "--tune-malloc" in sys.argv:
        print("tune_malloc:", tune_malloc())
    size = mib << 20
    rate = lambda seconds: f"{mib / seconds:8.0f} MiB/s"  # noqa: E731
    wall = shell_pipeline(size)
    print(f"head -c | cat > /dev/null      {rate(wall)}  ({wall:.3f} s)")
    wall, used = asyncio.run(through_execer(size))
    print(f"execer read_message (1 MiB)    {rate(wall)}  ({wall:.3f} s, CPU {used:.3f} s)")
    wall, used = asyncio.run(through_read(size))
    print(f"execer read(1 MiB)             {rate(wall)}  ({wall:.3f} s, CPU {used:.3f} s)")
    wall, used = asyncio.run(into_stdin(size))
    print(f"execer stdin write+drain       {rate(wall)}  ({wall:.3f} s, CPU {used:.3f} s)")
    small = min(size, 32 << 20)
    wall, used = asyncio.run(through_execer(small, tty=True))
    print(f"execer TTY read_message        {small / (1 << 20) / wall:8.0f} MiB/s  ({wall:.3f} s)")
    per_run = asyncio.run(spawn_rate(200))
    print(f"start+wait+close of `true`     {per_run * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
