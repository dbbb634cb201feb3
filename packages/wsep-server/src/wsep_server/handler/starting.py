"""Starting: the policy's word, then a new process or an attach to a session."""

from __future__ import annotations

import asyncio
import logging
import time

from wsep_protocol import CloseCode, ErrorCode, Pid, PolicyViolation, Process, Start, StartError
from wsep_protocol.sessions import Attach, EndSession, GetSession, ListSessions

from ..hooks import check_start, notify_observers
from ..pump import OutputPump
from ..sessions.serving import (
    announcement,
    answer,
    is_session_start,
    limit_session,
    mark_request,
    note_created,
    open_process,
    start_for_attach,
)
from .output import OutputSending

__all__ = ["Starting"]

_log = logging.getLogger(__name__)


class Starting(OutputSending):
    """``start`` and ``attach``: checked by the policy, then spawned or attached.

    Subclasses may override :meth:`start_process` (e.g. to reattach a named
    TTY session instead of spawning a new process).
    """

    async def _start(self, start: Start) -> None:
        command = start.command
        record = self.record
        record.argv = command.argv
        record.cwd = command.working_dir
        record.tty = command.tty
        record.client_id = start.id
        record.started = time.time()
        mark_request(self.request, self.session_manager, record.identity, start, self._attach)
        try:
            self.limits = await check_start(
                self.policy, self.request, record.identity, command, start.id, record.id
            )
            record.limits = self.limits
        except PolicyViolation as exc:
            await self._refuse(exc)
            return
        try:
            self.process = await self.start_process(start)
        except StartError as exc:
            await self.end(
                exc.close_code, exc.reason, f"start failed: {exc}", error=(exc.error_code, str(exc))
            )
            return
        except PolicyViolation as exc:
            await self._refuse(exc)
            return
        except Exception as exc:
            _log.exception("connection %s: execer failed to start %r", record.id, command.command)
            await self.end(
                CloseCode.INTERNAL_ERROR,
                f"failed to start: {exc}",
                f"start failed: {exc!r}",
                error=(ErrorCode.START_FAILED, str(exc)),
            )
            return
        process = self.process
        note_created(self.request, process)
        record.pid = process.pid
        if self._closing.is_set():
            return  # ended (shutdown) while starting; run() closes the process
        await self._send(self.conn.send(Pid(process.pid)))
        if self.conn.extended:
            for extra in announcement(process):
                await self._send(self.conn.send(extra))
        await notify_observers(self.observers, "on_start", record)
        self._pump = OutputPump(
            process,
            self._send,
            connection=self.conn,
            tty=command.tty,
            allow=self._allow_output if self.limits.max_output_bytes is not None else None,
            flow=self.flow,
        )
        self._pump_task = asyncio.create_task(self._pump_and_exit(self._pump))
        if self.limits.max_duration is not None:
            reason = f"maximum duration of {self.limits.max_duration:g} s exceeded"
            if not limit_session(process, self.limits.max_duration, reason):
                self._timers.append(
                    self._loop.call_later(self.limits.max_duration, self._limit_exceeded, reason)
                )

    async def _refuse(self, exc: PolicyViolation) -> None:
        """End the connection for a refusal by the policy (or by a session's rules)."""
        await self.end(
            exc.close_code, exc.reason, f"policy: {exc}", error=(exc.error_code, str(exc))
        )

    async def start_process(self, start: Start) -> Process:
        """Start the command of ``start``, or attach to the session it names."""
        manager = self.session_manager
        if manager is not None and (self._attach is not None or is_session_start(start)):
            return await open_process(
                manager,
                start,
                self._attach,
                identity=self.record.identity,
                peer=self.record.peer,
            )
        return await self.execer.start(start.command)

    async def _session_message(
        self, message: Attach | ListSessions | GetSession | EndSession
    ) -> None:
        """v2 sessions: ``attach`` (instead of ``start``) or a management request."""
        manager = self.session_manager
        try:
            if manager is None:
                raise PolicyViolation("reattachable sessions are off on this server")
            if isinstance(message, Attach):
                start = start_for_attach(manager, self.record.identity, message)
                self._attach = message
                await self._start(start)
                return
            reply = await answer(manager, self.record.identity, message)
        except PolicyViolation as exc:
            await self._refuse(exc)
            return
        await self._send(self.conn.send(reply))
