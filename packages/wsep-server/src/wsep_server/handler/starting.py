"""Starting: the policy's word, then a new process or an attach to a session."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from wsep_protocol import (
    CloseCode,
    Command,
    ErrorCode,
    Execer,
    Pid,
    PolicyViolation,
    Process,
    Start,
    StartError,
)

from ..hooks import notify_observers
from ..policy.decision import (
    POLICY_VIOLATION,
    StartDecision,
    StartRequest,
    decide,
    start_decided,
)
from ..pump import OutputPump
from .output import OutputSending

__all__ = ["Starting"]

_log = logging.getLogger(__name__)


class Starting(OutputSending):
    """``start`` and ``attach``: decided by the policy once, then spawned or attached.

    Subclasses may override :meth:`start_process` (it gets the start, the
    policy's request and its decision, which the process must be started by).
    """

    async def _start(self, start: Start) -> None:
        command = start.command
        record = self.record
        record.argv = command.argv
        record.cwd = command.working_dir
        record.tty = command.tty
        record.client_id = start.id
        record.started = time.time()
        record.reattach = self.sessions.reattaches(start)
        request = StartRequest(
            identity=record.identity,
            command=command,
            session_id=start.id,
            record_id=record.id,
            reattach=record.reattach,
            peer=record.peer,
            http=self.request,
        )
        self.decision = decision = await decide(self.policy, request)
        if not decision.allowed:
            await self._refuse(decision.reason, decision.code)
            return
        self.limits = record.limits = decision.limits
        record.recorded = decision.record
        try:
            self.process = await self.start_process(start, request, decision)
        except StartError as exc:
            await self.end(
                exc.close_code, exc.reason, f"start failed: {exc}", error=(exc.error_code, str(exc))
            )
            return
        except PolicyViolation as exc:
            await self._refuse(str(exc))
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
        record.pid = process.pid
        if self._closing.is_set():
            return  # ended (shutdown) while starting; run() closes the process
        await self._send(self.conn.send(Pid(process.pid)))
        if self.conn.extended:
            for extra in self.sessions.announcement():
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
            if not self.sessions.limit_duration(self.limits.max_duration, reason):
                self._timers.append(
                    self._loop.call_later(self.limits.max_duration, self._limit_exceeded, reason)
                )

    async def _refuse(self, reason: str, code: ErrorCode | str = POLICY_VIOLATION) -> None:
        """End the connection for a refusal by the policy (or by a session's rules)."""
        await self.end(
            CloseCode.POLICY_VIOLATION, reason, f"policy: {reason}", error=(code, reason)
        )

    async def start_process(
        self, start: Start, request: StartRequest, decision: StartDecision
    ) -> Process:
        """Start the command of ``start`` as the policy decided, or attach to the session
        it names."""

        async def launch(execer: Execer, command: Command) -> Process:
            return await start_decided(execer, replace(request, command=command), decision)

        return await self.sessions.open(start, self.execer, launch)

    async def _session_message(self, message: object) -> None:
        """v2 sessions: ``attach`` (instead of ``start``) or a management request."""
        try:
            outcome = await self.sessions.handle(message)
        except PolicyViolation as exc:
            await self._refuse(str(exc), exc.error_code)
            return
        if isinstance(outcome, Start):  # an attach: checked and started like a start
            await self._start(outcome)
            return
        await self._send(self.conn.send(outcome))
