"""Finding and signalling everything a child left running.

Each child leads its own session (``setsid``) and process group, so its
descendants share its session id unless they call ``setsid`` themselves.
``killpg`` reaches the child's process group; a shell with job control (an
interactive shell on a TTY) puts jobs in other groups of the same session,
which only a look at ``/proc`` finds. A descendant that started a session of
its own is found through its parent while that parent still runs in the tree,
and remembered (pid and start time) so it is still found after its parent
died; what double-forked away before anyone looked (a daemon) is out of reach
without cgroups. Zombies are dead: they are ignored (an orphan's zombie waits
for PID 1, which in a container may never reap it).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["Member", "killpg", "members", "signal_session"]


class Member(NamedTuple):
    """A live process; ``pid`` and ``started`` together name it for good."""

    pid: int
    pgid: int
    sid: int
    started: int


class _Stat(NamedTuple):
    state: bytes
    ppid: int
    pgid: int
    sid: int
    started: int


def _stat(pid: int | str) -> _Stat | None:
    """What ``/proc/<pid>/stat`` says, ``None`` when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # After "pid (comm) ": state ppid pgrp session ... starttime is the 20th field.
    fields = raw[raw.rindex(b")") + 2 :].split(b" ", 20)
    return _Stat(fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]))


def members(sid: int, strays: Mapping[int, int] | None = None) -> list[Member]:
    """Live processes of session ``sid``, their descendants in other sessions, and
    those of ``strays`` (pid → start time, as :class:`Member` gives it) still alive."""
    try:
        names = os.listdir("/proc")
    except OSError:  # pragma: no cover - no procfs
        return []
    strays = strays or {}
    live: dict[int, _Stat] = {}
    children: dict[int, list[int]] = {}
    found: list[int] = []
    for name in names:
        if not name.isdigit():
            continue
        st = _stat(name)
        if st is None or st.state in (b"Z", b"X"):
            continue
        pid = int(name)
        live[pid] = st
        children.setdefault(st.ppid, []).append(pid)
        if st.sid == sid or strays.get(pid) == st.started:
            found.append(pid)
    seen = set(found)
    for pid in found:  # grows while walking: descendants of descendants
        for child in children.get(pid, ()):
            if child not in seen:
                seen.add(child)
                found.append(child)
    return [Member(pid, live[pid].pgid, live[pid].sid, live[pid].started) for pid in found]


def killpg(pgid: int, signum: int) -> bool:
    """Signal a process group; ``False`` when it no longer exists.

    The pgid stays allocated while any member lives, so it cannot name a stranger.
    """
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_session(sid: int, signum: int, found: list[Member]) -> None:
    """Signal group ``sid`` and each process of ``found`` that lives in another group."""
    killpg(sid, signum)
    for member in found:
        if member.pgid != sid:
            _signal_member(member, signum)


def _signal_member(member: Member, signum: int) -> None:
    """Signal ``member`` only if its pid still names it (a pidfd pins it first)."""
    pidfd_open = getattr(os, "pidfd_open", None)
    send = getattr(signal, "pidfd_send_signal", None)
    if pidfd_open is None or send is None:  # pragma: no cover - old kernels/Pythons
        st = _stat(member.pid)
        if st is not None and st.started == member.started:
            with contextlib.suppress(OSError):
                os.kill(member.pid, signum)
        return
    try:
        fd = pidfd_open(member.pid)
    except OSError:
        return
    try:
        st = _stat(member.pid)
        if st is not None and st.started == member.started:
            with contextlib.suppress(OSError):
                send(fd, signum)
    finally:
        os.close(fd)
