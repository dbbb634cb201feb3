"""One session: a process that outlives its connections, and the clients attached to it.

The session owns the process and reads its output all the time, whether or
not anyone is attached: for a TTY into the terminal emulator (and every
attached client's queue), for a resumable job into a ring per stream. A client
attaches as a :class:`~wsep_server.sessions.attachment.SessionProcess`, which
looks like an ordinary ``wsep_protocol.Process`` to the connection handler.

The session ends when the process exits (TTY: at once, every attached client
gets the exit; resumable job: once a client took all output and the exit, or
after the timeout) or when ``timeout`` seconds pass with nobody attached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from wsep_protocol import DEFAULT_COLS, DEFAULT_ROWS, Command, ExitStatus, Process, ProcessReader
from wsep_protocol.sessions import ClientInfo, SessionDescription

from ..tasks import settle
from .config import SessionConfig
from .executor import run_emulation
from .ring import OutputRing
from .terminal import TerminalState

if TYPE_CHECKING:
    from .attachment import SessionProcess

# DEFAULT_ROWS/DEFAULT_COLS: wsep_protocol's, under their older import path.
__all__ = ["DEFAULT_COLS", "DEFAULT_ROWS", "Session"]

_log = logging.getLogger("wsep_server.sessions")

_READ_SIZE = 1 << 16


class Session:
    """A named process with its output state; created by the ``SessionManager``."""

    def __init__(
        self,
        *,
        session_id: str,
        owner: str | None,
        command: Command,
        process: Process,
        resumable: bool,
        config: SessionConfig,
        on_end: Callable[[Session], None],
    ) -> None:
        self.id = session_id
        self.owner = owner
        self.command = command
        self.process = process
        self.tty = command.tty
        self.resumable = resumable and not command.tty
        self.config = config
        self.created = time.time()
        self._born = asyncio.get_running_loop().time()  # the clock limits count on
        self.status: ExitStatus | None = None
        self.exited = asyncio.Event()
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.attachments: list[SessionProcess] = []
        self.granted: set[str] = set()
        self.rows, self.cols = command.terminal_size
        self._on_end = on_end
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: asyncio.TimerHandle | None = None
        #: Why a run-time limit ended the session ("" unless one did).
        self.limit_reason = ""
        self._ending: asyncio.Task[None] | None = None
        self.terminal: TerminalState | None = None
        self.rings: dict[str, OutputRing] = {}
        self._terminal_lock = asyncio.Lock()
        self._failed_observers: set[str] = set()
        self._when_ended: list[Callable[[], None]] = []
        tasks: list[Awaitable[None]]
        if self.tty:
            self.terminal = TerminalState(self.rows, self.cols, config.terminal, name=session_id)
            tasks = [self._pump_tty()]
        else:
            self.rings = {name: OutputRing(config.ring_bytes) for name in ("stdout", "stderr")}
            tasks = [
                self._pump_ring(process.stdout, self.rings["stdout"]),
                self._pump_ring(process.stderr, self.rings["stderr"]),
            ]
        self._pump = asyncio.ensure_future(self._run(tasks))
        self._arm_timer()

    def __repr__(self) -> str:
        return f"<Session {self.id!r} pid={self.pid} clients={len(self.attachments)}>"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.status is None

    # --- output --------------------------------------------------------------

    async def _run(self, pumps: Sequence[Awaitable[None]]) -> None:
        try:
            await asyncio.gather(*pumps)
            self.status = await self.process.wait()
        except Exception as exc:  # pragma: no cover - a broken execer
            _log.exception("session %r: output pump failed", self.id)
            self.status = ExitStatus(-1)
            self.end_reason = f"internal error: {exc!r}"
        finally:
            self.exited.set()
            for attachment in list(self.attachments):
                attachment._wake()
        if not self.resumable:
            self.end("exited")
        # A resumable job ends when a client took all of it and the exit (see
        # SessionProcess.wait), or after the timeout with nobody attached.

    async def _pump_tty(self) -> None:
        terminal = self.terminal
        assert terminal is not None
        reader = self.process.stdout
        applying: asyncio.Future[None] | None = None
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    break
                if terminal.flush_due:
                    # One batch is applied on the emulation threads while the next one
                    # fills; wait only when that one is full too (bounded memory).
                    if applying is not None:
                        await applying
                    applying = asyncio.ensure_future(self._apply_terminal())
                self._fan_out(terminal, data)
                await self._wait_for_clients()
        finally:
            if applying is not None:
                await applying
        await self._apply_terminal()

    def _fan_out(self, terminal: TerminalState, data: bytes) -> None:
        """Output to the emulator and every attached client; one's failure is not the others'."""
        try:
            terminal.feed(data)
        except Exception:
            self._observer_failed("terminal emulator")
        for attachment in self.attachments:
            try:
                attachment._push(data)
            except Exception:
                self._observer_failed(f"client {attachment.peer!r}")

    def _observer_failed(self, what: str) -> None:
        """Log an observer's failure once per session and observer; the output goes on."""
        if what not in self._failed_observers:
            self._failed_observers.add(what)
            _log.exception("session %r: %s failed (contained)", self.id, what)

    async def _wait_for_clients(self) -> None:
        """Hold the output back while a client's backlog is full, for ``client_stall`` s.

        A client that keeps up at all gets every byte; one that does not read
        for that long has its backlog dropped and gets a redraw instead.
        """
        limit = self.config.client_buffer
        behind = [a for a in self.attachments if a.backlog > limit]
        if not behind:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.client_stall
        for attachment in behind:
            while attachment.backlog > limit:
                remaining = deadline - loop.time()
                try:
                    if remaining <= 0:
                        raise asyncio.TimeoutError
                    await asyncio.wait_for(attachment._wait_drained(), remaining)
                except asyncio.TimeoutError:
                    attachment._resynchronise()
                    break

    async def _apply_terminal(self) -> None:
        """Run the emulator over what is pending, on the emulation threads (pyte is slow)."""
        terminal = self.terminal
        assert terminal is not None
        async with self._terminal_lock:
            ops = terminal.take_pending()
            if ops:
                try:
                    rest = await run_emulation(lambda: terminal.apply(ops, defer=True))
                except Exception:
                    self._observer_failed("terminal emulator")
                    return
                terminal.requeue(rest)

    async def redraw_for(self, attachment: SessionProcess) -> None:
        """Give ``attachment`` the current screen, then the output that follows it.

        The client's queue is reset and the emulator's pending output taken in
        one step, so the redraw and the queue meet exactly, with nothing
        missing or repeated.
        """
        terminal = self.terminal
        assert terminal is not None
        async with self._terminal_lock:
            if attachment.detached:
                return
            ops = terminal.take_pending()
            attachment._reset()
            if attachment not in self.attachments:
                self.attachments.append(attachment)
                self._attached()

            def apply_and_render() -> tuple[bytes, tuple[bytes, bytes]]:
                terminal.apply(ops)
                return terminal.render_now(), terminal.render_main_now()

            if not terminal.bytes_in:  # nothing was ever written: nothing to redraw
                attachment._prepend(b"")
                await self.apply_size()
                return
            try:
                screen, main = await run_emulation(apply_and_render)
            except Exception:
                self._observer_failed("terminal emulator")
                screen, main = b"", (b"", b"")
            except BaseException:
                attachment._prepend(b"")  # never leave the client waiting
                raise
        attachment._prepend(screen, main)
        await self.apply_size()

    async def _pump_ring(self, reader: ProcessReader, ring: OutputRing) -> None:
        size = min(_READ_SIZE, ring.capacity)
        while True:
            data = await reader.read(size)
            if not data:
                break
            await ring.reserve(len(data))
            ring.append(data)
        ring.close()

    # --- clients ---------------------------------------------------------------

    def add(self, attachment: SessionProcess) -> None:
        """Attach a client to a resumable job (TTY clients attach via :meth:`redraw_for`)."""
        self.attachments.append(attachment)
        self._attached()

    def _attached(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def remove(self, attachment: SessionProcess) -> None:
        with contextlib.suppress(ValueError):
            self.attachments.remove(attachment)
        for ring in self.rings.values():
            ring.detach(attachment)
        if self.attachments:
            await self.apply_size()
        else:
            self._arm_timer()

    async def apply_size(self) -> None:
        """The TTY is as large as the smallest interactive client that stated a size.

        Read-only clients and clients without a size do not count; with none
        that counts, the size stays as it is.
        """
        if not self.tty or self.status is not None:
            return
        sizes = [a.size for a in self.attachments if a.size is not None and not a.read_only]
        if not sizes:
            return
        rows = min(r for r, _ in sizes)
        cols = min(c for _, c in sizes)
        if (rows, cols) == (self.rows, self.cols):
            return
        self.rows, self.cols = rows, cols
        assert self.terminal is not None
        self.terminal.resize(rows, cols)
        try:
            await self.process.resize(rows, cols)
        except (OSError, ValueError):  # pragma: no cover - the terminal is already gone
            pass

    # --- ending ----------------------------------------------------------------

    def _arm_timer(self) -> None:
        if self._timer is not None or self.ended.is_set():
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.config.timeout, self.end, "timeout")

    @property
    def idle_deadline(self) -> float | None:
        """When the session times out (loop time), or None while someone is attached."""
        return None if self._timer is None else self._timer.when()

    @property
    def limit_deadline(self) -> float | None:
        """When a duration limit ends the session (loop time), or None without one."""
        return None if self._deadline is None else self._deadline.when()

    def limit_duration(self, seconds: float, reason: str) -> None:
        """End the session ``seconds`` after it was created, attached or not.

        A policy's duration limit belongs to the command, not to a connection:
        detaching must neither stop the clock nor start it over. The earliest
        deadline given wins.
        """
        if self._ending is not None:
            return
        loop = asyncio.get_running_loop()
        when = max(self._born + seconds, loop.time())
        if self._deadline is not None:
            if self._deadline.when() <= when:
                return
            self._deadline.cancel()
        self._deadline = loop.call_at(when, self.end_for_limit, reason)

    def end_for_limit(self, reason: str) -> None:
        if self._ending is None and self.running:
            self.limit_reason = reason
        self.end(f"limit: {reason}")

    def end(self, reason: str) -> None:
        """End the session (idempotent): close the process, forget the session."""
        if self._ending is not None:
            return
        if not self.end_reason:
            self.end_reason = reason
        for timer in (self._timer, self._deadline):
            if timer is not None:
                timer.cancel()
        self._timer = self._deadline = None
        self._on_end(self)
        self._ending = asyncio.ensure_future(self._close())

    async def _close(self) -> None:
        try:
            await self.process.close()
            await settle(self._pump, _log, f"session {self.id!r}: output pump")
        except Exception:  # pragma: no cover - a broken execer
            _log.exception("session %r: closing the process failed", self.id)
        finally:
            self.ended.set()
            for callback in self._when_ended:
                try:
                    callback()
                except Exception:
                    _log.exception("session %r: an end callback failed", self.id)
            self._when_ended.clear()

    def when_ended(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the session has ended (at once if it has)."""
        if self.ended.is_set():
            callback()
        else:
            self._when_ended.append(callback)

    # --- inspection ------------------------------------------------------------

    def describe(self) -> SessionDescription:
        return SessionDescription(
            id=self.id,
            argv=self.command.argv,
            tty=self.tty,
            resumable=self.resumable,
            pid=self.pid,
            created=self.created,
            state="running" if self.status is None else "exited",
            clients=tuple(
                ClientInfo(
                    peer=a.peer,
                    read_only=a.read_only,
                    since=a.since,
                    rows=a.size[0] if a.size else 0,
                    cols=a.size[1] if a.size else 0,
                )
                for a in self.attachments
            ),
            exit_code=None if self.status is None else self.status.code,
            owner=self.owner,
            rows=self.rows if self.tty else 0,
            cols=self.cols if self.tty else 0,
        )
