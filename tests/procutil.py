"""/proc helpers for tests that check processes are gone (no leaks, no zombies)."""

from __future__ import annotations

import asyncio
import os
import time

__all__ = [
    "children_of",
    "live_in_session",
    "open_fds",
    "proc_stat",
    "wait_until_gone",
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
    me = os.getpid() if pid is None else pid
    return [p for p, st in _all() if st[1] == me and st[0] == "Z"]


def live_in_session(sid: int) -> list[int]:
    """Running (non-zombie) processes of session or process group ``sid``.

    The local execer starts each command in its own session, so this finds
    grandchildren too, even after they were reparented.
    """
    return [p for p, st in _all() if (st[3] == sid or st[2] == sid) and st[0] != "Z"]


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


async def wait_until_gone(sid: int, timeout: float = 15.0) -> list[int]:
    """Poll until no live process of session ``sid`` remains; returns what is left."""
    deadline = time.monotonic() + timeout
    while True:
        left = live_in_session(sid)
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.02)
