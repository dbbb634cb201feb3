"""A cgroup v2 per process tree, where the server has a writable (delegated) cgroup.

A cgroup holds every process forked inside it, and no process can leave it
without write access to another cgroup, so ending a process tree is one write to
``cgroup.kill`` (Linux 5.14+; older kernels: SIGKILL to each member until the
group is empty). The server's own cgroup must be writable: a systemd unit gets
that with ``Delegate=yes``; as root on a host, the cgroup v2 root is.

A child must be in its cgroup before it runs a single instruction of its
own (a shell forks at once): the server moves itself into the process tree's
cgroup for the moment of the spawn, so the child is born there, and moves
back (two writes, ≈ 0.1 ms). Where that is refused, the child is moved right
after the spawn and the descendant tracking (:mod:`.tracking`) covers what it
forked in that instant.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["CgroupPool", "find_own_cgroup"]

_log = logging.getLogger("wsep_server.local.cgroup")


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
    """A cgroup per process tree below ``base`` (made by :meth:`open`, removed by :meth:`close`)."""

    def __init__(self, base: Path, home: Path) -> None:
        self.base = base
        #: The server's own cgroup, where it returns after each spawn.
        self.home = home
        self._names = itertools.count(1)
        self.has_kill = (base / "cgroup.kill").exists()
        #: Process tree cgroups whose removal the kernel refused so far (still emptying).
        self._leftover: list[Path] = []

    @classmethod
    def open(cls, spec: str) -> CgroupPool | None:
        """``spec``: ``off``, ``auto`` (the server's own cgroup if writable) or a directory."""
        if spec == "off":
            return None
        parent = find_own_cgroup() if spec == "auto" else Path(spec)
        if parent is None:
            _log.info("no cgroup v2 for process trees: descendant tracking only")
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
        _log.info("process trees run in cgroups below %s", base)
        return cls(base, find_own_cgroup() or parent)

    def create(self) -> Path:
        self._sweep()
        path = self.base / f"s{next(self._names)}"
        path.mkdir(mode=0o755)
        return path

    @contextlib.contextmanager
    def born_in(self, path: Path) -> Iterator[bool]:
        """While inside, this process (and so every child it spawns) is in ``path``;
        yields whether the move worked."""
        me = f"{os.getpid()}\n"
        try:
            (path / "cgroup.procs").write_text(me)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            try:
                (self.home / "cgroup.procs").write_text(me)
            except OSError as exc:  # pragma: no cover - the home cgroup vanished
                _log.error("cannot return to cgroup %s: %s", self.home, exc.strerror)

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

    def remove(self, path: Path) -> None:
        """Remove a process tree's cgroup; one the kernel is still emptying is retried later."""
        try:
            path.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            self._leftover.append(path)

    def _sweep(self) -> None:
        leftover, self._leftover = self._leftover, []
        for path in leftover:
            self.remove(path)

    def close(self) -> None:
        """Remove every process tree's cgroup and the base (at server exit, all have ended)."""
        with contextlib.suppress(OSError):
            for path in self.base.iterdir():
                if path.is_dir():
                    self.kill(path)
                    deadline = time.monotonic() + 2.0
                    while self.populated(path) and time.monotonic() < deadline:
                        time.sleep(0.01)
                    with contextlib.suppress(OSError):
                        path.rmdir()
        with contextlib.suppress(OSError):
            self.base.rmdir()
