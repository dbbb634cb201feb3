"""Looking at paths as the user a command will run as, not as the (root) server.

A server running as root sees everything; a command it starts as uid 65534
does not. Checks made before spawning must not tell the client more than
that user could find out itself: a file inside a directory the user cannot
search is reported exactly like a missing one. The child is started without
supplementary groups, so its primary group is the only group that counts.
Mode bits only: an ACL or a security module may still refuse what looks
allowed here, and then the child's own ``chdir``/``execve`` reports it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

__all__ = ["Viewer"]


@dataclass(frozen=True, slots=True)
class Viewer:
    """A uid/gid pair whose view of the file system is modelled."""

    uid: int
    gid: int

    @classmethod
    def for_ids(cls, uid: int | None, gid: int | None) -> Viewer | None:
        """The viewer for a switched user, or ``None`` when the server's own view applies."""
        if uid is None or os.geteuid() != 0:
            return None
        return cls(uid, gid if gid is not None else os.getegid())

    def _bits(self, st: os.stat_result) -> int:
        if st.st_uid == self.uid:
            return (st.st_mode >> 6) & 7
        if st.st_gid == self.gid:
            return (st.st_mode >> 3) & 7
        return st.st_mode & 7

    def may_execute(self, st: os.stat_result) -> bool:
        if self.uid == 0:
            return bool(st.st_mode & 0o111)
        return bool(self._bits(st) & 1)

    def can_search(self, directory: str) -> bool:
        """Whether every directory from ``/`` down to ``directory`` may be searched,
        along the path as written and along the one it resolves to."""
        if self.uid == 0:
            return True
        for path in {os.path.abspath(directory), os.path.realpath(directory)}:
            prefix = "/"
            parts = [p for p in path.split("/") if p]
            for part in ["", *parts]:
                prefix = os.path.join(prefix, part) if part else prefix
                try:
                    st = os.stat(prefix)
                except OSError:
                    return True  # missing: the caller's own stat reports that
                if stat.S_ISDIR(st.st_mode) and not self._bits(st) & 1:
                    return False
        return True

    def can_see(self, path: str) -> bool:
        """Whether ``path``'s directory is reachable, so the file's existence is visible."""
        return self.can_search(os.path.dirname(os.path.abspath(path)) or "/")
