"""A started child: exit detection, signals, resize, and a close that leaves nothing behind.

Exit detection uses a pidfd (``os.pidfd_open``, Linux 5.3+) watched by the
event loop, then ``os.waitpid`` on exactly that pid: no SIGCHLD handler, no
interference with other code that spawns processes. Without pidfd a thread
blocks in ``waitpid`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import termios
import threading

from wsep_protocol import ExitStatus

from . import process_group
from .containment import ProcessTreeScope
from .reader import PipeReader
from .writer import PipeWriter

__all__ = ["LocalProcess"]

#: How often ``close`` checks whether processes left in the process tree are gone.
_POLL = (0.002, 0.005, 0.01, 0.02, 0.05)
#: How long ``close`` waits for SIGKILL to take effect on processes it cannot reap.
_KILL_WAIT = 2.0


class LocalProcess:
    """A local child process in its own POSIX session; satisfies ``wsep_protocol.Process``."""

    def __init__(
        self,
        pid: int,
        popen: subprocess.Popen[bytes] | None,
        *,
        loop: asyncio.AbstractEventLoop,
        stdin: PipeWriter,
        stdout: PipeReader,
        stderr: PipeReader,
        tty_fd: int | None,
        grace_period: float,
        output_linger: float,
        scope: ProcessTreeScope,
    ) -> None:
        self._popen = popen
        self._scope = scope
        self._pid = pid
        self._loop = loop
        self._stdin = stdin
        self._stdout = stdout
        self._stderr = stderr
        self._tty_fd = tty_fd
        self._is_tty = tty_fd is not None
        self._grace = grace_period
        self._linger = output_linger
        self._exited: asyncio.Future[ExitStatus] = loop.create_future()
        self._pidfd: int | None = None
        self._closed = False
        self._close_task: asyncio.Task[None] | None = None
        self._watch()

    # -- wsep_protocol.Process -------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def tty(self) -> bool:
        return self._is_tty

    @property
    def stdin(self) -> PipeWriter:
        return self._stdin

    @property
    def stdout(self) -> PipeReader:
        return self._stdout

    @property
    def stderr(self) -> PipeReader:
        return self._stderr

    @property
    def returncode(self) -> ExitStatus | None:
        """The exit status once the child is reaped, else ``None``."""
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> ExitStatus:
        return await asyncio.shield(self._exited)

    async def resize(self, rows: int, cols: int) -> None:
        """Set the terminal size (0 keeps that dimension); the kernel sends SIGWINCH."""
        if self._tty_fd is None:
            return
        cur_rows, cur_cols = get_winsize(self._tty_fd)
        set_winsize(self._tty_fd, rows if rows > 0 else cur_rows, cols if cols > 0 else cur_cols)

    async def send_signal(self, signum: int) -> None:
        """Signal the child's process group; nothing happens once it has been reaped."""
        if not self._exited.done():
            self._killpg(signum)

    async def close(self) -> None:
        """Terminate (TTY: hang up) the group, wait the grace period, kill it, reap, close fds."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        await asyncio.shield(self._close_task)

    # -- exit detection --------------------------------------------------------------------

    def _watch(self) -> None:
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is not None:
            try:
                self._pidfd = pidfd_open(self._pid)
            except OSError:
                self._pidfd = None
        if self._pidfd is not None:
            self._loop.add_reader(self._pidfd, self._on_pidfd)
            return
        thread = threading.Thread(target=self._wait_thread, name=f"wsep-wait-{self._pid}")
        thread.daemon = True
        thread.start()

    def _on_pidfd(self) -> None:
        try:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self._pid, -1
        if pid == 0:
            return
        self._drop_pidfd()
        self._reaped(status)

    def _drop_pidfd(self) -> None:
        fd, self._pidfd = self._pidfd, None
        if fd is not None:
            self._loop.remove_reader(fd)
            os.close(fd)

    def _wait_thread(self) -> None:  # pragma: no cover - only without pidfd
        try:
            _, status = os.waitpid(self._pid, 0)
        except ChildProcessError:
            status = -1
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self._loop.call_soon_threadsafe(self._reaped, status)

    def _reaped(self, status: int) -> None:
        if self._exited.done():
            return
        # Someone else reaped it (status unknown): report it like a kill.
        exit_status = (
            ExitStatus.from_wait_status(status) if status >= 0 else ExitStatus(code=-1, signal=9)
        )
        if self._popen is not None:
            # Keep subprocess from ever waiting on this (possibly reused) pid again.
            self._popen.returncode = (
                -exit_status.signal if exit_status.signal is not None else exit_status.code
            )
        self._exited.set_result(exit_status)
        self._stdout.linger(self._linger)
        self._stderr.linger(self._linger)

    # -- closing ---------------------------------------------------------------------------

    async def _close(self) -> None:
        try:
            await self._close_scope(self._scope)
        finally:
            self._release()

    async def _close_scope(self, scope: ProcessTreeScope) -> None:
        """End every process of the process tree: signal, grace period, kill, until none is left."""
        first = signal.SIGHUP if self._is_tty else signal.SIGTERM
        found = await scope.members()
        if self._exited.done() and not found:
            return
        deadline = self._loop.time() + self._grace
        scope.signal(first, found)
        scope.signal(signal.SIGCONT, found)  # a stopped process cannot act on SIGTERM
        if await self._scope_gone(scope, deadline, None):
            return
        scope.signal(signal.SIGKILL, await scope.members())
        kill_deadline = self._loop.time() + _KILL_WAIT
        await self._scope_gone(scope, kill_deadline, signal.SIGKILL)
        await asyncio.shield(self._exited)  # always reap the child itself
        await self._scope_gone(scope, self._loop.time() + _KILL_WAIT, signal.SIGKILL)

    async def _scope_gone(
        self, scope: ProcessTreeScope, deadline: float, signum: int | None
    ) -> bool:
        """Wait until the child is reaped and nothing of its process tree lives; ``signum`` is
        sent again to whatever still does (a fork may have raced the last one)."""
        # The child's exit is an event: no look at /proc until it is reaped (or time is up).
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.shield(self._exited), max(deadline - self._loop.time(), 0)
            )
        found = await scope.members()
        step = 0
        while True:
            if signum is not None and found:
                scope.signal(signum, found)
            if not found and self._exited.done():
                return True
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(_POLL[min(step, len(_POLL) - 1)], remaining))
            step += 1
            found = await scope.members()

    def _killpg(self, signum: int) -> None:
        process_group.killpg(self._pid, signum)

    def _release(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stdin.abort()
        self._stdout.close()
        self._stderr.close()
        fd, self._tty_fd = self._tty_fd, None
        if fd is not None:
            os.close(fd)
        if not self._exited.done():  # pragma: no cover - close() was cancelled
            # Still watched: the pidfd (or thread) reaps it when the kill lands.
            self._killpg(signal.SIGKILL)
        self._scope.release()


def set_winsize(fd: int, rows: int, cols: int) -> None:
    """``TIOCSWINSZ``; sizes are clamped to the kernel's 16-bit fields."""
    rows, cols = (min(max(v, 0), 0xFFFF) for v in (rows, cols))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_winsize(fd: int) -> tuple[int, int]:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return rows, cols
