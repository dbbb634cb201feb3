"""Output to the client: the pump, the exit code, and the output and duration limits."""

from __future__ import annotations

import contextlib
import logging

from wsep_protocol import CloseCode, ConnectionState, Error, ErrorCode, ExitCode

from ..pump import OutputPump
from ..sessions.serving import LimitEnd
from .base import ConnectionBase

__all__ = ["OutputSending"]

_log = logging.getLogger(__name__)


class OutputSending(ConnectionBase):
    """Runs the output pump, sends the exit code, and ends the connection on a limit."""

    async def _pump_and_exit(self, pump: OutputPump) -> None:
        try:
            self.status = status = await pump.run()
            if self._limit_close is None and (reason := self.sessions.limit_reason()):
                # The session's own clock ran out (perhaps before this client attached).
                self._limit_close = (CloseCode.POLICY_VIOLATION, reason)
                self._set_reason(f"limit: {reason}")
                await self._send_limit_error(reason)
            if self.conn.state is ConnectionState.RUNNING and not self.ws.closed:
                await self._send(
                    self.conn.send(ExitCode.from_status(status, extended=self.conn.extended))
                )
        except (ConnectionError, RuntimeError):
            self._set_reason("client disconnected")
            return
        except Exception as exc:
            _log.exception("connection %s: output pump failed", self.record.id)
            await self.end(CloseCode.INTERNAL_ERROR, "output failed", f"internal error: {exc!r}")
            return
        if self._limit_close is not None:
            await self.end(
                self._limit_close[0], self._limit_close[1], f"limit: {self._limit_close[1]}"
            )
            return
        self._set_reason("exited")
        # Like the Go server, wait for the client to close; but not forever.
        self._timers.append(self._loop.call_later(self.config.exit_linger, self._linger_over))

    def _linger_over(self) -> None:
        self._spawn(self.end(CloseCode.NORMAL_CLOSURE, "exited", "exited"), "ending")

    def _allow_output(self, n: int) -> int:
        limit = self.limits.max_output_bytes
        assert limit is not None
        assert self._pump is not None
        left = limit - self._pump.bytes_out
        if n > left:
            self._limit_exceeded(f"output limit of {limit} bytes exceeded")
            return max(left, 0)
        return n

    def _limit_exceeded(self, reason: str) -> None:
        if self._limit_close is not None or self._ending or self.status is not None:
            return
        self._limit_close = (CloseCode.POLICY_VIOLATION, reason)
        self._set_reason(f"limit: {reason}")
        self._spawn(self._end_for_limit(reason), "ending for a limit")

    async def _send_limit_error(self, reason: str) -> None:
        if self.conn.extended and self.conn.state is ConnectionState.RUNNING:
            with contextlib.suppress(Exception):
                code = ErrorCode.LIMIT_EXCEEDED.value
                message = Error(code, reason, int(CloseCode.POLICY_VIOLATION))
                await self._send(self.conn.send(message))

    async def _end_for_limit(self, reason: str) -> None:
        await self._send_limit_error(reason)
        process = self.process
        if process is None:
            return
        ends = self.sessions.end_for_limit(reason)
        if ends is LimitEnd.SESSION:
            return  # a session's end closes its process: the pump sees the exit as below
        if ends is LimitEnd.CONNECTION:  # an observer: only its connection ends
            await self.end(CloseCode.POLICY_VIOLATION, reason, f"limit: {reason}")
            return
        # The pump then sees EOF, sends exit_code, and closes with 1008.
        await process.close()
