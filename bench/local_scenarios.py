"""Baselines: the same work without wsep (local spawn, local PTY, loopback TCP)."""

from __future__ import annotations

import asyncio
import os
import pty
import socket
import time
from typing import Any

from .loadgen import run_echo_load
from .stats import percentile
from .ws_scenarios import tty_echo_argv

__all__ = ["SCENARIOS"]

Params = dict[str, Any]


async def spawn_true(p: Params) -> dict[str, Any]:
    """``true`` started and reaped locally with asyncio, as a server does it."""
    count = int(p["count"])
    for _ in range(int(p.get("warmup", 20))):
        proc = await asyncio.create_subprocess_exec("true")
        await proc.wait()
    runs = []
    for _ in range(int(p["runs"])):
        samples = []
        for _ in range(count):
            t0 = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                "true", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            await proc.communicate()
            samples.append((time.perf_counter() - t0) * 1000)
        runs.append({"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)})
    return {"runs": runs}


async def pty_echo(p: Params) -> dict[str, Any]:
    """Keystroke echo through a local PTY running the same command as the wsep figure."""
    count, warm = int(p["count"]), int(p.get("warmup", 20))
    loop = asyncio.get_running_loop()
    runs = []
    for _ in range(int(p["runs"])):
        master, slave = pty.openpty()
        proc = await asyncio.create_subprocess_exec(
            *tty_echo_argv(count + warm),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        queue: asyncio.Queue[int] = asyncio.Queue()

        def readable(fd: int = master, q: asyncio.Queue[int] = queue) -> None:
            try:
                q.put_nowait(len(os.read(fd, 65536)))
            except OSError:
                loop.remove_reader(fd)
                q.put_nowait(0)

        loop.add_reader(master, readable)
        try:
            if await asyncio.wait_for(queue.get(), 30) == 0:
                raise RuntimeError("pty: ended before ready")
            samples = []
            for i in range(count + warm):
                t0 = time.perf_counter()
                os.write(master, b"x")
                got = 0
                while got < 1:
                    n = await asyncio.wait_for(queue.get(), 30)
                    if n == 0:
                        raise RuntimeError("pty: ended early")
                    got += n
                if i >= warm:
                    samples.append((time.perf_counter() - t0) * 1000)
            await asyncio.wait_for(proc.wait(), 30)
        finally:
            loop.remove_reader(master)
            os.close(master)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        runs.append({"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)})
    return {"runs": runs}


def _tcp_send(port: int, size: int) -> int:
    chunk = bytes(1 << 20)
    view = memoryview(chunk)
    with socket.create_connection(("127.0.0.1", port)) as s:
        left = size
        while left:
            n = min(left, len(chunk))
            s.sendall(view[:n])
            left -= n
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while len(answer) < 8:
            more = s.recv(8 - len(answer))
            if not more:
                break
            answer += more
    return int.from_bytes(answer, "big")


async def tcp_throughput(p: Params) -> dict[str, Any]:
    """SIZE bytes over one loopback TCP connection to a sink process; count checked."""
    size, port = int(p["size"]), int(p["port"])
    runs = []
    for i in range(int(p.get("warmup", 1)) + int(p["runs"])):
        t0 = time.perf_counter()
        got = await asyncio.to_thread(_tcp_send, port, size)
        seconds = time.perf_counter() - t0
        if got != size:
            raise RuntimeError(f"tcp sink counted {got}, expected {size}")
        if i >= int(p.get("warmup", 1)):
            runs.append({"seconds": seconds})
    return {"runs": runs}


class _TcpEcho:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: int):
        self.reader, self.writer, self.message = reader, writer, b"e" * payload

    async def send(self) -> None:
        self.writer.write(self.message)
        await self.writer.drain()

    async def recv_len(self) -> int:
        return len(await self.reader.read(65536))

    async def finish(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def tcp_concurrent_echo(p: Params) -> dict[str, Any]:
    """The concurrency load pattern against a plain asyncio TCP echo server process."""
    payload, port = int(p["payload"]), int(p["port"])

    async def connect() -> _TcpEcho:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return _TcpEcho(reader, writer, payload)

    runs = []
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
    return {"runs": runs}


SCENARIOS = {
    "spawn_true": spawn_true,
    "pty_echo": pty_echo,
    "tcp_throughput": tcp_throughput,
    "tcp_concurrent_echo": tcp_concurrent_echo,
}
