"""``LocalExecer``: runs commands as children of the server (pipes or a PTY)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from typing import TYPE_CHECKING

from wsep_protocol import DEFAULT_COLS, DEFAULT_ROWS, Command

from . import environ, spawn
from .containment import Containment, ProcessTreeScope, tag_environment
from .process import LocalProcess, set_winsize
from .reader import PipeReader
from .writer import PipeWriter

if TYPE_CHECKING:
    from ..policy.decision import StartDecision, StartRequest


# DEFAULT_ROWS/DEFAULT_COLS: wsep_protocol's, under their older import path.
__all__ = ["DEFAULT_COLS", "DEFAULT_ROWS", "LocalExecer"]


class LocalExecer:
    """Starts local processes; satisfies ``wsep_protocol.Execer``.

    ``grace_period``: seconds ``close`` waits between SIGTERM/SIGHUP and SIGKILL.
    ``output_linger``: seconds after the child's exit until its readers report EOF
    even if a grandchild still holds the pipe or terminal.
    ``pipe_size``: requested pipe capacity (``F_SETPIPE_SZ``); kept if refused.
    ``scrub_env``: names (glob patterns) of the server's environment never passed on,
    besides ``WSEP_*`` which never is.
    ``containment``: how process trees' descendants are found and ended (default: by
    POSIX session, ancestry and tag, without taking over orphans or using cgroups).
    """

    def __init__(
        self,
        *,
        grace_period: float = 2.0,
        output_linger: float = 1.0,
        pipe_size: int = 1 << 20,
        scrub_env: tuple[str, ...] = (),
        containment: Containment | None = None,
    ) -> None:
        self.grace_period = grace_period
        self.output_linger = output_linger
        self.pipe_size = pipe_size
        self.scrub_env = scrub_env
        self.containment = containment if containment is not None else Containment()

    def resolve(self, command: Command) -> str:
        """The absolute path that ``start`` would execute (the server's PATH, not the child's).

        Raises ``StartError`` exactly as ``start`` would for a missing or non-executable
        command.
        """
        return spawn.resolve(command)

    async def start(self, command: Command) -> LocalProcess:
        """Start ``command``; raises ``StartError`` (with ``kind``) when it cannot."""
        return await self._start(command, None)

    async def start_decided(self, request: StartRequest, decision: StartDecision) -> LocalProcess:
        """Start as the policy decided: its run-as user and its environment."""
        command = request.command
        if decision.run_as is not None:
            run_as = decision.run_as
            command = dataclasses.replace(command, uid=run_as.uid, gid=run_as.gid)
        return await self._start(command, decision.environment)

    async def _start(self, command: Command, plan: environ.EnvironmentPlan | None) -> LocalProcess:
        creds = spawn.check_credentials(command)
        cwd = spawn.check_working_dir(command)
        executable = spawn.resolve(command)
        uid = os.geteuid() if creds.uid is None else creds.uid
        base = environ.child_base(plan, uid=uid, tty=command.tty, scrubbed=self.scrub_env)
        scope = self.containment.open_scope()
        env = tag_environment(spawn.build_env(command, base), scope.tag)
        loop = asyncio.get_running_loop()
        try:
            # A pass over /proc holds the tracker's lock that spawning takes: wait for
            # it here, not blocked on the lock with the whole event loop.
            await self.containment.tracker.quiet()
            launch = spawn.Launch(command, executable, cwd, env, creds)
            if command.tty:
                return self._start_tty(launch, loop, scope)
            return self._start_pipes(launch, loop, scope)
        except BaseException:
            scope.release()
            raise

    def _start_pipes(
        self, launch: spawn.Launch, loop: asyncio.AbstractEventLoop, scope: ProcessTreeScope
    ) -> LocalProcess:
        ours: list[int] = []
        theirs: list[int] = []
        try:
            out_r, out_w = _pipe(self.pipe_size, ours, theirs)
            err_r, err_w = _pipe(self.pipe_size, ours, theirs)
            stdin_w: int | None = None
            stdin_r: int | None = None
            if launch.command.stdin_enabled:
                stdin_r, stdin_w = _pipe(self.pipe_size, theirs, ours)
            with scope.spawning():
                pid, popen = spawn.spawn(launch, stdin_r, out_w, err_w)
                scope.adopt(pid)
        except BaseException:
            _close_all(ours)
            raise
        finally:
            _close_all(theirs)
        return LocalProcess(
            pid,
            popen,
            loop=loop,
            stdin=PipeWriter(stdin_w, loop),
            stdout=PipeReader(out_r, loop),
            stderr=PipeReader(err_r, loop),
            tty_fd=None,
            grace_period=self.grace_period,
            output_linger=self.output_linger,
            scope=scope,
        )

    def _start_tty(
        self, launch: spawn.Launch, loop: asyncio.AbstractEventLoop, scope: ProcessTreeScope
    ) -> LocalProcess:
        master, slave = os.openpty()
        ours = [master]
        try:
            set_winsize(master, *launch.command.terminal_size)
            ours.append(writer_fd := os.dup(master))
            ours.append(control_fd := os.dup(master))
            if launch.creds.uid is not None:
                # Like login and sshd: the run-as user owns its terminal.
                os.fchown(slave, launch.creds.uid, -1)
            with scope.spawning():
                pid, popen = spawn.spawn_tty(launch, slave)
                scope.adopt(pid)
        except BaseException:
            _close_all(ours)
            raise
        finally:
            os.close(slave)
        return LocalProcess(
            pid,
            popen,
            loop=loop,
            stdin=PipeWriter(writer_fd, loop, tty=True),
            stdout=PipeReader(master, loop, tty=True),
            stderr=PipeReader(None, loop),
            tty_fd=control_fd,
            grace_period=self.grace_period,
            output_linger=self.output_linger,
            scope=scope,
        )


def _pipe(size: int, readers: list[int], writers: list[int]) -> tuple[int, int]:
    """A CLOEXEC pipe, grown to ``size``; ends recorded for cleanup on failure."""
    r, w = os.pipe2(os.O_CLOEXEC)
    readers.append(r)
    writers.append(w)
    spawn.set_pipe_size(r, size)
    return r, w


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    fds.clear()
