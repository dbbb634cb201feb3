"""Signalling what a child left running, by process group and by pinned pid.

Each child leads its own POSIX session (``setsid``: its ``sid`` is its pid) and
process group; ``killpg`` reaches that group, and :func:`signal_process_group`
each process found elsewhere (:mod:`.tracking` finds them), a pidfd pinning it
so a reused pid is never hit. A POSIX session is the kernel's, never a wsep
session (:mod:`wsep_server.sessions`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import NamedTuple

__all__ = ["Member", "ProcStat", "killpg", "read_stat", "signal_process_group"]


class Member(NamedTuple):
    """A live process; ``pid`` and ``started`` together name it for good."""

    pid: int
    pgid: int
    #: The POSIX session id (``setsid``), not a wsep session.
    sid: int
    started: int


class ProcStat(NamedTuple):
    """What ``/proc/<pid>/stat`` says about a process (zombies included)."""

    state: bytes
    ppid: int
    pgid: int
    sid: int
    started: int


def read_stat(pid: int | str) -> ProcStat | None:
    """What ``/proc/<pid>/stat`` says, ``None`` when gone."""
    # Raw system calls: a pass reads every process's stat, and Python's buffered file
    # objects took 1.7 times as long per file.
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        raw = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not raw:
        return None
    # After "pid (comm) ": state ppid pgrp session ... starttime is the 20th field.
    fields = raw[raw.rindex(b")") + 2 :].split(b" ", 20)
    return ProcStat(fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]))


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


def signal_process_group(pgid: int, signum: int, found: list[Member]) -> None:
    """Signal group ``pgid`` and each process of ``found`` that lives in another group."""
    killpg(pgid, signum)
    for member in found:
        if member.pgid != pgid:
            _signal_member(member, signum)


def _signal_member(member: Member, signum: int) -> None:
    """Signal ``member`` only if its pid still names it (a pidfd pins it first)."""
    pidfd_open = getattr(os, "pidfd_open", None)
    send = getattr(signal, "pidfd_send_signal", None)
    if pidfd_open is None or send is None:  # pragma: no cover - old kernels/Pythons
        st = read_stat(member.pid)
        if st is not None and st.started == member.started:
            with contextlib.suppress(OSError):
                os.kill(member.pid, signum)
        return
    try:
        fd = pidfd_open(member.pid)
    except OSError:
        return
    try:
        st = read_stat(member.pid)
        if st is not None and st.started == member.started:
            with contextlib.suppress(OSError):
                send(fd, signum)
    finally:
        os.close(fd)
