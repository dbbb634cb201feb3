"""Keeping every descendant of a process tree in sight, whatever it does to its ids.

A child may leave its process group (``setpgid``, ``set -m``), its POSIX session
(``setsid``) and its parent (a double fork, ``daemon()``). With the server as
*child subreaper* (``PR_SET_CHILD_SUBREAPER``) every orphan of a process tree is
reparented to the server instead of PID 1, so it is still below the server
in the process tree. One pass over ``/proc`` then attributes each process to
the process tree it came from:

- by ancestry: below the process tree's first process, or below any process seen
  in that process tree before (pid and start time);
- by POSIX session id: still in the ``setsid`` session the child started;
- by tag: a reparented orphan whose environment carries the process tree's
  ``WSEP_SESSION_TAG`` (a double fork keeps it);
- when exclusive (``wsep-server``, whose only children are process trees): an
  orphan that shed all of these is charged to every process tree that was running
  when it started, and ends with the first of them; with none left it is
  killed at once.

The pass runs on a thread of its own, never on the event loop. Orphans that
die are reaped here, so no zombie stays behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .process_group import Member, ProcStat, read_stat

__all__ = ["TAG_VARIABLE", "DescendantTracker", "become_subreaper"]

_log = logging.getLogger("wsep_server.local.tracking")

#: Set in every child's environment; names the process tree an orphan came from.
TAG_VARIABLE = "WSEP_SESSION_TAG"
_PR_SET_CHILD_SUBREAPER = 36
#: Seconds between passes while process trees run (reaps orphans that died, kills strays).
_REFRESH = 1.0


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans; False where refused."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        result = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return bool(result == 0)


def _tag_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    prefix = TAG_VARIABLE.encode() + b"="
    for entry in raw.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


@dataclass
class _Tracked:
    leader: int
    started: int
    tag: str
    #: Every member seen so far (pid → start time): ancestry survives their parents.
    known: dict[int, int] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)


class DescendantTracker:
    """Attributes processes to process trees; one ``/proc`` pass serves them all.

    ``exclusive``: every child of this process that is not a process tree's first
    process is an orphan of some process tree (true for ``wsep-server``; not for a
    library user who spawns children of its own).
    """

    def __init__(self, *, exclusive: bool = False) -> None:
        self.exclusive = exclusive
        self._me = os.getpid()
        self._trees: dict[int, _Tracked] = {}
        #: Dead children that were no process tree's first process at the last pass: a pid
        #: is reaped on its second sighting, so a child spawned during a pass (not yet
        #: registered) is never reaped in place of its owner.
        self._dead: set[int] = set()
        self._lock = threading.Lock()
        self._refresher: asyncio.Task[None] | None = None
        #: Passes started from the event loop and not done yet (see :meth:`quiet`).
        self._passes: set[asyncio.Future[None]] = set()

    @staticmethod
    def new_tag() -> str:
        return secrets.token_hex(12)

    @contextlib.contextmanager
    def spawning(self) -> Iterator[None]:
        """Hold passes off while a child is spawned and registered: a pass must never see
        a process tree's first process before it is known as one (it would look like an orphan).

        Await :meth:`quiet` first, so the lock is free and the event loop never waits
        for it."""
        with self._lock:
            yield

    async def quiet(self) -> None:
        """Until no pass started from this loop is running (they hold the lock)."""
        while self._passes:
            await asyncio.wait(list(self._passes))

    def register(self, leader: int, tag: str) -> None:
        """Start tracking the process tree whose first process is ``leader``."""
        st = read_stat(leader)
        started = st.started if st is not None else 0
        self._trees[leader] = _Tracked(leader, started, tag, {leader: started})
        self._keep_refreshing()

    def unregister(self, leader: int) -> None:
        self._trees.pop(leader, None)
        self._keep_refreshing()

    def _keep_refreshing(self) -> None:
        if self.exclusive and self._refresher is None and (self._trees or self._dead):
            with contextlib.suppress(RuntimeError):
                self._refresher = asyncio.get_running_loop().create_task(self._refresh())

    async def members(self, leader: int) -> list[Member]:
        """Live processes of the process tree of ``leader`` (a fresh pass, off the event loop:
        ≈ 20 µs a process on the host, too long for the loop with many)."""
        await self._scan_off_loop()
        return self._found(leader)

    async def _scan_off_loop(self) -> None:
        done = asyncio.ensure_future(_off_loop(self.scan))
        self._passes.add(done)
        done.add_done_callback(self._passes.discard)
        await asyncio.shield(done)  # a cancelled caller leaves the pass to finish (and be seen)

    def _found(self, leader: int) -> list[Member]:
        tracked = self._trees.get(leader)
        return list(tracked.members) if tracked is not None else []

    async def _refresh(self) -> None:
        try:
            while self._trees or self._dead:
                await asyncio.sleep(_REFRESH)
                await self._scan_off_loop()
        except Exception:  # pragma: no cover - an observer never ends the server
            _log.exception("process tracking failed")
        finally:
            self._refresher = None

    def scan(self) -> None:
        """One pass: attribute every live process, reap orphans that died, end strays."""
        with self._lock:
            self._scan()

    def _scan(self) -> None:
        procs: dict[int, ProcStat] = {}
        try:
            names = os.listdir("/proc")
        except OSError:  # pragma: no cover - no procfs
            return
        for name in names:
            if name.isdigit():
                st = read_stat(int(name))
                if st is not None:
                    procs[int(name)] = st
        children: dict[int, list[int]] = {}
        for pid, st in procs.items():
            children.setdefault(st.ppid, []).append(pid)
        trees = list(self._trees.values())
        leaders = {s.leader for s in trees}
        owner: dict[int, list[_Tracked]] = {}
        for tracked in trees:
            # A pid is never reused while it names a process tree, so a different process
            # under the leader's pid means the process tree's id is free: skip that rule.
            current = procs.get(tracked.leader)
            by_sid = current is None or current.started == tracked.started
            roots = [
                pid
                for pid, st in procs.items()
                if (by_sid and st.sid == tracked.leader) or tracked.known.get(pid) == st.started
            ]
            for pid in _descendants(roots, children):
                owner.setdefault(pid, []).append(tracked)
        by_tag = {s.tag: s for s in trees}
        strays: list[int] = []
        for pid in children.get(self._me, ()):
            st = procs[pid]
            if pid in leaders or pid in owner or st.state in (b"Z", b"X"):
                continue
            found = by_tag.get(_tag_of(pid) or "")
            if found is not None:
                charged = [found]
            elif self.exclusive:
                charged = [s for s in trees if s.started <= st.started]
            else:
                continue
            if not charged:
                strays.append(pid)
            for sub in _descendants([pid], children):
                owner.setdefault(sub, []).extend(charged)
        for tracked in trees:
            tracked.members = []
            tracked.known = {}
        for pid, charged in owner.items():
            st = procs[pid]
            if st.state in (b"Z", b"X"):
                continue
            member = Member(pid, st.pgid, st.sid, st.started)
            for tracked in charged:
                tracked.members.append(member)
                tracked.known[pid] = st.started
        for tracked in trees:
            tracked.known.setdefault(tracked.leader, tracked.started)
        for pid in _descendants(strays, children):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self._reap(procs, children.get(self._me, ()), leaders, owner)

    def _reap(
        self,
        procs: dict[int, ProcStat],
        mine: Iterable[int],
        leaders: set[int],
        owner: dict[int, list[_Tracked]],
    ) -> None:
        """Reap dead orphans; a tree's first process is its owner's to reap."""
        dead = set()
        for pid in mine:
            if pid in leaders or procs[pid].state != b"Z":
                continue
            if not self.exclusive and pid not in owner:
                continue  # a child of someone else in this process
            if pid not in self._dead:
                dead.add(pid)
                continue
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        self._dead = dead


_executor: ThreadPoolExecutor | None = None
_users = 0


async def _off_loop(scan: Callable[[], None]) -> None:
    """Run a pass on the one scanning thread (never the event loop, never the shared
    pool); the thread ends when no pass is pending, so none lingers in between."""
    global _executor, _users
    if _executor is None:
        _executor = ThreadPoolExecutor(1, thread_name_prefix="wsep-proc-scan")
    executor = _executor
    _users += 1
    try:
        await asyncio.get_running_loop().run_in_executor(executor, scan)
    finally:
        _users -= 1
        if _users == 0 and _executor is executor:
            _executor = None
            executor.shutdown(wait=False)


def _descendants(roots: Iterable[int], children: dict[int, list[int]]) -> list[int]:
    found = list(dict.fromkeys(roots))
    seen = set(found)
    for pid in found:  # grows while walking
        for child in children.get(pid, ()):
            if child not in seen:
                seen.add(child)
                found.append(child)
    return found
