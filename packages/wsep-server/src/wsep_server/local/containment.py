"""What a process tree's processes are, and how to end all of them: the one place that decides.

:class:`Containment` belongs to the execer: the descendant tracker and, where
available, the cgroup pool. :class:`ProcessTreeScope` belongs to one started
child: it finds every process of that process tree (off the event loop), signals
them and, at the end, lets go of the tracking entry and the cgroup.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

from . import process_group
from .cgroup import CgroupPool
from .process_group import Member
from .tracking import TAG_VARIABLE, DescendantTracker, become_subreaper

__all__ = ["Containment", "ProcessTreeScope", "tag_environment"]


class Containment:
    """The execer's means to keep process trees contained.

    ``subreaper``: become the child subreaper (orphans stay below this process)
    and treat every child that is not a process tree's first process as an orphan of
    a process tree; only for a process whose children all head process trees (``wsep-server``).
    ``cgroups``: a :class:`CgroupPool`, or ``None``.
    """

    def __init__(self, *, subreaper: bool = False, cgroups: CgroupPool | None = None) -> None:
        self.subreaper = subreaper and become_subreaper()
        self.tracker = DescendantTracker(exclusive=self.subreaper)
        self.cgroups = cgroups

    @classmethod
    def for_server(cls, cgroup: str = "auto") -> Containment:
        """What ``wsep-server`` uses: subreaper always, a cgroup per process tree when it can."""
        return cls(subreaper=True, cgroups=CgroupPool.open(cgroup))

    def open_scope(self) -> ProcessTreeScope:
        """A scope for the process tree about to be spawned (its cgroup, if any, created)."""
        group: Path | None = None
        if self.cgroups is not None:
            try:
                group = self.cgroups.create()
            except OSError:
                group = None
        return ProcessTreeScope(self, self.tracker.new_tag(), group)

    def close(self) -> None:
        """Remove the cgroup base directory (once the process trees in it have ended)."""
        if self.cgroups is not None:
            self.cgroups.close()

    async def on_cleanup(self, app: object) -> None:
        """``close`` as an aiohttp cleanup hook."""
        self.close()


class ProcessTreeScope:
    """All processes of one process tree: opened before the spawn, adopted after it."""

    def __init__(self, owner: Containment, tag: str, group: Path | None) -> None:
        self._owner = owner
        self.tag = tag
        self.group = group
        self.leader = 0
        self._born_inside = False

    @contextlib.contextmanager
    def spawning(self) -> Iterator[None]:
        """Around the spawn and :meth:`adopt`: the child is born in the process tree's cgroup,
        and no look at ``/proc`` happens until it is tracked."""
        cgroups = self._owner.cgroups
        with self._owner.tracker.spawning():
            if self.group is None or cgroups is None:
                yield
                return
            with cgroups.born_in(self.group) as inside:
                self._born_inside = inside
                yield

    def adopt(self, pid: int) -> ProcessTreeScope:
        """Start tracking the process tree whose first process is ``pid``."""
        self.leader = pid
        cgroups = self._owner.cgroups
        moved = self._born_inside or (
            cgroups is not None and self.group is not None and cgroups.add(self.group, pid)
        )
        if self.group is not None and cgroups is not None and not moved:
            cgroups.remove(self.group)
            self.group = None
        self._owner.tracker.register(pid, self.tag)
        return self

    async def members(self) -> list[Member]:
        """Every live process of the process tree (a fresh look, off the event loop)."""
        return self._with_cgroup(await self._owner.tracker.members(self.leader))

    def _with_cgroup(self, found: list[Member]) -> list[Member]:
        if self.group is not None and self._owner.cgroups is not None:
            known = {m.pid for m in found}
            extra = self._owner.cgroups.pids(self.group)  # one small file
            found.extend(Member(p, p, p, 0) for p in extra if p not in known)
        return found

    def signal(self, signum: int, found: list[Member]) -> None:
        """Signal the process tree's group, ``found``, and whatever is in the cgroup."""
        process_group.signal_process_group(self.leader, signum, [m for m in found if m.started])
        cgroups = self._owner.cgroups
        if self.group is not None and cgroups is not None:
            if signum == signal.SIGKILL:
                cgroups.kill(self.group)
            else:
                cgroups.signal(self.group, signum)

    def release(self) -> None:
        """Stop tracking; remove the cgroup (now, or once the kernel has emptied it)."""
        if self.leader:
            self._owner.tracker.unregister(self.leader)
        cgroups = self._owner.cgroups
        if self.group is not None and cgroups is not None:
            cgroups.remove(self.group)
            self.group = None


def tag_environment(env: dict[str, str], tag: str) -> dict[str, str]:
    """``env`` with the tree's tag, which lets an orphan be traced back to its process tree."""
    env[TAG_VARIABLE] = tag
    return env
