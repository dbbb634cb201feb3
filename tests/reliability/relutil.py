"""Helpers for the reliability suite: sizes, a control client, leak checks, figures.

Sizes: every suite has a CI size (the default, small enough for four CI runs
on two cores) and a full size (``WSEP_FULL=1``, ``nox -s reliability_full``).

Figures: :func:`record` prints one line per measurement and, when
``WSEP_RELIABILITY_REPORT`` names a file, appends it there as JSON, so a run
leaves the numbers the report quotes (cases tried, runs, bytes, leaks, latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from procutil import children_of, open_fds, proc_stat
from rawws import OP_CLOSE, RawWebSocket
from wsep_protocol import STDERR_HEADER, STDOUT_HEADER, Command, Start, encode

__all__ = [
    "FULL",
    "TIMEOUT",
    "LatencyProbe",
    "Result",
    "Serve",
    "collect",
    "descendants",
    "expect_close",
    "fd_count",
    "gather_limited",
    "header",
    "pid_of",
    "record",
    "roundtrip",
    "scaled",
    "start_bytes",
    "wait_for_no_children",
    "work_timeout",
    "zombies",
]

T = TypeVar("T")

#: The ``serve`` fixture: ``url = await serve(**create_app_kwargs, runner_kwargs={...})``.
Serve = Callable[..., Awaitable[str]]

FULL = os.environ.get("WSEP_FULL") == "1"
TIMEOUT = 30.0


def scaled(ci: T, full: T) -> T:
    """``full`` under ``WSEP_FULL=1``, else ``ci``."""
    return full if FULL else ci


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


# --- wire helpers (like tests/server/srvutil.py, which is not importable from here) ------


def start_bytes(
    *argv: str, stdin: bool = False, tty: bool = False, env: tuple[str, ...] = ()
) -> bytes:
    command = Command(command=argv[0], args=tuple(argv[1:]), stdin=stdin, tty=tty, env=env)
    return encode(Start(command=command))


def header(message: bytes) -> dict[str, Any]:
    obj = json.loads(message.partition(b"\n")[0])
    assert isinstance(obj, dict)
    return obj


@dataclass
class Result:
    """What one session delivered, in order."""

    types: list[str] = field(default_factory=list)
    stdout: bytes = b""
    stderr: bytes = b""
    pid: int | None = None
    exit: dict[str, Any] | None = None
    close: tuple[int | None, str] | None = None


async def collect(ws: RawWebSocket, timeout: float = TIMEOUT) -> Result:
    """Read until ``exit_code`` (then close 1000 and read the echo) or the server's close."""
    res = Result()
    out, err = bytearray(), bytearray()
    while True:
        opcode, payload = await ws.recv_message(timeout)
        if opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            res.close = (code, payload[2:].decode(errors="replace"))
            with contextlib.suppress(ConnectionError, OSError):
                await ws.close(code or 1000)
            break
        head, _, body = payload.partition(b"\n")
        if payload.startswith(STDOUT_HEADER):
            kind = "stdout"
            out += body
        elif payload.startswith(STDERR_HEADER):
            kind = "stderr"
            err += body
        else:
            obj = json.loads(head)
            kind = obj["type"]
            if kind == "pid":
                res.pid = int(obj["pid"])
            elif kind == "exit_code":
                res.exit = obj
        res.types.append(str(kind))
        if kind == "exit_code":
            await ws.close(1000, "normal closure")
            res.close = await ws.recv_close(timeout)
            break
    res.stdout, res.stderr = bytes(out), bytes(err)
    return res


# --- processes and fds ---------------------------------------------------------------------


def fd_count(pid: int | None = None) -> int:
    if pid is None:
        return len(open_fds())
    return len(os.listdir(f"/proc/{pid}/fd"))


def descendants(pid: int | None = None) -> list[int]:
    """Every process below ``pid`` (default: this one), zombies included."""
    root = os.getpid() if pid is None else pid
    found: list[int] = []
    todo = [root]
    while todo:
        kids = children_of(todo.pop())
        found += kids
        todo += kids
    return found


def zombies(pid: int | None = None) -> list[int]:
    return [p for p in descendants(pid) if (proc_stat(p) or ("",))[0] == "Z"]


async def wait_for_no_children(
    pid: int | None = None, *, allowed: frozenset[int] = frozenset(), timeout: float = TIMEOUT
) -> list[int]:
    """Poll until ``pid`` has no children but ``allowed``; returns what is left."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in children_of(pid) if p not in allowed]
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.02)


# --- a control client ------------------------------------------------------------------------


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


async def expect_close(ws: RawWebSocket, timeout: float = TIMEOUT) -> tuple[int | None, str]:
    """Read (ignoring data) until the server's close frame; answer it."""
    code, reason = await ws.recv_close(timeout)
    try:
        await ws.close(code or 1000)
    except (ConnectionError, OSError):
        pass
    return code, reason


async def pid_of(ws: RawWebSocket) -> int:
    """The pid from the first message after ``start``."""
    opcode, msg = await ws.recv_message(TIMEOUT)
    assert opcode != OP_CLOSE, msg
    head = header(msg)
    assert head["type"] == "pid", head
    return int(head["pid"])


async def gather_limited(n: int, jobs: list[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run ``jobs`` with at most ``n`` at a time, in order of the results."""
    sem = asyncio.Semaphore(n)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with sem:
            return await job()

    return await asyncio.gather(*(one(j) for j in jobs))
