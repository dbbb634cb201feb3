"""What a session's processes are, and how to end all of them: the one place that decides.

:class:`Containment` belongs to the execer: the descendant tracker and, where
available, the cgroup pool. :class:`SessionScope` belongs to one started
child: it finds every process of that session (off the event loop), signals
them and, at the end, lets go of the tracking entry and the cgroup.
"""

from __future__ import annotations

from pathlib import Path

from . import session
from .cgroup import CgroupPool
from .session import Member
from .tracking import TAG_VARIABLE, DescendantTracker, become_subreaper

__all__ = ["Containment", "SessionScope", "tag_environment"]


class Containment:
    """The execer's means to keep sessions contained.

    ``subreaper``: become the child subreaper (orphans stay below this process)
    and treat every child that is not a session's first process as an orphan of
    a session; only for a process whose children are all sessions (``wsep-server``).
    ``cgroups``: a :class:`CgroupPool`, or ``None``.
    """

    def __init__(self, *, subreaper: bool = False, cgroups: CgroupPool | None = None) -> None:
        self.subreaper = subreaper and become_subreaper()
        self.tracker = DescendantTracker(exclusive=self.subreaper)
        self.cgroups = cgroups

    @classmethod
    def for_server(cls, cgroup: str = "auto") -> Containment:
        """What ``wsep-server`` uses: subreaper always, a cgroup per session when it can."""
        return cls(subreaper=True, cgroups=CgroupPool.open(cgroup))

    def new_tag(self) -> str:
        return self.tracker.new_tag()

    def adopt(self, pid: int, tag: str) -> SessionScope:
        """Track the session just started as ``pid`` (and move it into its cgroup)."""
        group: Path | None = None
        if self.cgroups is not None:
            try:
                group = self.cgroups.create()
            except OSError:
                group = None
            if group is not None and not self.cgroups.add(group, pid):
                self.cgroups.remove(group)
                group = None
        self.tracker.register(pid, tag)
        return SessionScope(self, pid, group)

    def close(self) -> None:
        """Remove the cgroup base directory (once the sessions in it have ended)."""
        if self.cgroups is not None:
            self.cgroups.close()

    async def on_cleanup(self, app: object) -> None:
        """``close`` as an aiohttp cleanup hook."""
        self.close()


class SessionScope:
    """All processes of one session."""

    def __init__(self, owner: Containment, leader: int, group: Path | None) -> None:
        self._owner = owner
        self.leader = leader
        self.group = group

    @property
    def in_cgroup(self) -> bool:
        return self.group is not None

    async def members(self) -> list[Member]:
        """Every live process of the session (a fresh look, off the event loop)."""
        return self._with_cgroup(await self._owner.tracker.members(self.leader))

    def members_now(self) -> list[Member]:
        """:meth:`members`, in this thread (once per session end, not in a loop)."""
        return self._with_cgroup(self._owner.tracker.members_now(self.leader))

    def _with_cgroup(self, found: list[Member]) -> list[Member]:
        if self.group is not None and self._owner.cgroups is not None:
            known = {m.pid for m in found}
            extra = self._owner.cgroups.pids(self.group)  # one small file
            found.extend(Member(p, p, p, 0) for p in extra if p not in known)
        return found

    def signal(self, signum: int, found: list[Member]) -> None:
        """Signal the session's group, ``found``, and whatever is in the cgroup."""
        session.signal_session(self.leader, signum, [m for m in found if m.started])
        cgroups = self._owner.cgroups
        if self.group is not None and cgroups is not None:
            if signum == 9:
                cgroups.kill(self.group)
            else:
                cgroups.signal(self.group, signum)

    def release(self) -> None:
        """Stop tracking; remove the cgroup (empty by now, or removed later by the kernel)."""
        self._owner.tracker.unregister(self.leader)
        cgroups = self._owner.cgroups
        if self.group is not None and cgroups is not None:
            cgroups.remove(self.group)


def tag_environment(env: dict[str, str], tag: str) -> dict[str, str]:
    """``env`` with the session's tag, which lets an orphan be traced back to its session."""
    env[TAG_VARIABLE] = tag
    return env
