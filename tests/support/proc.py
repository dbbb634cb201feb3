"""/proc helpers for tests that check processes are gone (no leaks, no zombies)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

from support import TIMEOUT

__all__ = [
    "children_of",
    "descendants",
    "fd_count",
    "fds_settled",
    "live_group_members",
    "live_in_session",
    "open_fds",
    "proc_stat",
    "stop_process",
    "wait_for_no_children",
    "wait_until_gone",
    "zombies",
    "zombies_of",
]


def proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgid, sid) of ``pid``, or None when it no longer exists."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3])


def _all() -> list[tuple[int, tuple[str, int, int, int]]]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None:
                out.append((int(name), st))
    return out


def children_of(pid: int | None = None) -> list[int]:
    """Children of ``pid`` (default: this process), zombies included."""
    me = os.getpid() if pid is None else pid
    return [p for p, st in _all() if st[1] == me]


def zombies_of(pid: int | None = None) -> list[int]:
    """Zombie children of ``pid`` (default: this process)."""
    me = os.getpid() if pid is None else pid
    return [p for p, st in _all() if st[1] == me and st[0] == "Z"]


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
    """Zombies anywhere below ``pid`` (default: this process)."""
    return [p for p in descendants(pid) if (proc_stat(p) or ("",))[0] == "Z"]


def live_in_session(sid: int) -> list[int]:
    """Running (non-zombie) processes of session or process group ``sid``.

    The local execer starts each command in its own session, so this finds
    grandchildren too, even after they were reparented.
    """
    return [p for p, st in _all() if (st[3] == sid or st[2] == sid) and st[0] != "Z"]


def live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are still running (zombies count as gone:
    an orphan's zombie waits for PID 1, which may not reap in a container)."""
    return [p for p, st in _all() if st[2] == pgid and st[0] != "Z"]


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def fd_count(pid: int | None = None) -> int:
    if pid is None:
        return len(open_fds())
    return len(os.listdir(f"/proc/{pid}/fd"))


async def fds_settled(before: int, slack: int, timeout: float = TIMEOUT) -> int:
    """This process's fd count once it is at most ``before + slack`` (closing takes a
    moment), or after ``timeout``; the caller asserts on what it returns."""
    deadline = time.monotonic() + timeout
    while fd_count() > before + slack and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return fd_count()


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30.0
) -> int:
    """``sig`` to a child still running, then its exit status; SIGKILL after ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


async def wait_until_gone(sid: int, timeout: float = 15.0) -> list[int]:
    """Poll until no live process of session ``sid`` remains; returns what is left."""
    deadline = time.monotonic() + timeout
    while True:
        left = live_in_session(sid)
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.02)


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
