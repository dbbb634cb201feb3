"""Finding and signalling everything a child left running in its session.

Each child leads its own session (``setsid``) and process group, so its
descendants share its session id unless they call ``setsid`` themselves.
``killpg`` reaches the child's process group; a shell with job control (an
interactive shell on a TTY) puts jobs in other groups of the same session,
which only a look at ``/proc`` finds. Zombies are dead: they are ignored
(an orphan's zombie waits for PID 1, which in a container may never reap it).
"""

from __future__ import annotations

import contextlib
import os
import signal

__all__ = ["killpg", "members", "signal_session"]


def _stat(pid: int | str) -> tuple[bytes, int, int] | None:
    """(state, pgid, sid) from ``/proc/<pid>/stat``, ``None`` when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split(b" ", 5)
    return fields[0], int(fields[2]), int(fields[3])


def members(sid: int) -> list[tuple[int, int]]:
    """Live ``(pid, pgid)`` pairs of session ``sid`` (zombies excluded)."""
    found: list[tuple[int, int]] = []
    try:
        names = os.listdir("/proc")
    except OSError:  # pragma: no cover - no procfs
        return found
    for name in names:
        if not name.isdigit():
            continue
        st = _stat(name)
        if st is not None and st[2] == sid and st[0] not in (b"Z", b"X"):
            found.append((int(name), st[1]))
    return found


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


def signal_session(sid: int, signum: int, found: list[tuple[int, int]]) -> None:
    """Signal group ``sid`` and each process of ``found`` that lives in another group."""
    killpg(sid, signum)
    for pid, pgid in found:
        if pgid != sid:
            _signal_pid(pid, sid, signum)


def _signal_pid(pid: int, sid: int, signum: int) -> None:
    """Signal ``pid`` only if it is still in session ``sid`` (a pidfd pins it first)."""
    pidfd_open = getattr(os, "pidfd_open", None)
    send = getattr(signal, "pidfd_send_signal", None)
    if pidfd_open is None or send is None:  # pragma: no cover - old kernels/Pythons
        with contextlib.suppress(OSError):
            os.kill(pid, signum)
        return
    try:
        fd = pidfd_open(pid)
    except OSError:
        return
    try:
        st = _stat(pid)
        if st is not None and st[2] == sid:
            with contextlib.suppress(OSError):
                send(fd, signum)
    finally:
        os.close(fd)
