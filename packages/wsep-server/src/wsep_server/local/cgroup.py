"""A cgroup v2 per session, where the server has a writable (delegated) cgroup.

A cgroup holds every process forked inside it, and no process can leave it
without write access to another cgroup, so ending a session is one write to
``cgroup.kill`` (Linux 5.14+; older kernels: SIGKILL to each member until the
group is empty). The server's own cgroup must be writable: a systemd unit gets
that with ``Delegate=yes``; as root on a host, the cgroup v2 root is.

The child is moved into its cgroup right after it is spawned; the descendant
tracking (:mod:`.tracking`) covers what it might fork in that instant.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import signal
from pathlib import Path

__all__ = ["CgroupPool", "find_own_cgroup"]

_log = logging.getLogger("wsep_server.local")


def find_own_cgroup() -> Path | None:
    """This process's cgroup v2 directory, when cgroup2 is mounted (hybrid or unified)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    own = next((line[3:] for line in lines if line.startswith("0::")), None)
    if own is None:
        return None
    for mount in mounts:
        left, _, right = mount.partition(" - ")
        if not right.startswith("cgroup2 "):
            continue
        fields = left.split()
        root, point = fields[3], fields[4]
        if own == root or own.startswith(root.rstrip("/") + "/"):
            rel = own[len(root.rstrip("/")) :].lstrip("/")
            return Path(point) / rel
    return None


class CgroupPool:
    """Per-session cgroups below ``base`` (created by :meth:`open`, removed by :meth:`close`)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._names = itertools.count(1)
        self.has_kill = (base / "cgroup.kill").exists()

    @classmethod
    def open(cls, spec: str) -> CgroupPool | None:
        """``spec``: ``off``, ``auto`` (the server's own cgroup if writable) or a directory."""
        if spec == "off":
            return None
        parent = find_own_cgroup() if spec == "auto" else Path(spec)
        if parent is None:
            _log.info("no cgroup v2 for sessions: descendant tracking only")
            return None
        base = parent / f"wsep-{os.getpid()}"
        try:
            base.mkdir(mode=0o755)
        except FileExistsError:
            pass
        except OSError as exc:
            if spec != "auto":
                raise ValueError(f"--cgroup {spec}: {exc.strerror or exc}") from None
            _log.info(
                "cgroup %s is not writable (%s): descendant tracking only",
                parent,
                exc.strerror,
            )
            return None
        _log.info("sessions run in cgroups below %s", base)
        return cls(base)

    def create(self) -> Path:
        path = self.base / f"s{next(self._names)}"
        path.mkdir(mode=0o755)
        return path

    @staticmethod
    def add(path: Path, pid: int) -> bool:
        """Move ``pid`` into ``path``; False when it is gone or refused."""
        try:
            (path / "cgroup.procs").write_text(f"{pid}\n")
        except OSError as exc:
            if exc.errno not in (errno.ESRCH,):
                _log.warning("cannot move pid %d into %s: %s", pid, path, exc.strerror)
            return False
        return True

    @staticmethod
    def pids(path: Path) -> list[int]:
        try:
            return [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    @staticmethod
    def populated(path: Path) -> bool:
        try:
            for line in (path / "cgroup.events").read_text().splitlines():
                if line.startswith("populated "):
                    return line.split()[1] != "0"
        except OSError:
            return False
        return False

    def kill(self, path: Path) -> None:
        """SIGKILL everything in ``path``, at once where the kernel can."""
        if self.has_kill:
            try:
                (path / "cgroup.kill").write_text("1\n")
                return
            except OSError:
                pass
        for pid in self.pids(path):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def signal(self, path: Path, signum: int) -> None:
        for pid in self.pids(path):
            with contextlib.suppress(OSError):
                os.kill(pid, signum)

    @staticmethod
    def remove(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.rmdir()

    def close(self) -> None:
        self.remove(self.base)
