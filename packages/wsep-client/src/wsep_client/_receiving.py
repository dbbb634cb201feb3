"""The receive loop of a remote process: messages into its streams, drops detected."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from wsep_protocol import (
    CloseCode,
    Error,
    ExitCode,
    ExitStatus,
    Pid,
    RemoteProtocolError,
    Stderr,
    Stdout,
    WsepError,
)
from wsep_protocol.sessions import Attached, Gap

from ._resuming import _Resuming
from .errors import ConnectionLost, InternalError
from .remote_errors import connection_failure, start_failure
from .resume import Drop

__all__ = ["PROBE_INTERVAL", "TRANSPORT_ERRORS"]

_DATA = (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT)

#: What a lost connection raises (a heartbeat's timeout included); anything else
#: in the receive loop is a bug and is reported as :class:`InternalError`.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    aiohttp.ClientError,
    ConnectionError,
    asyncio.TimeoutError,
)

#: Seconds between liveness probes while reading is paused on a full buffer.
PROBE_INTERVAL = 1.0


class _Receiving(_Resuming):
    """Feeds what the server sends into the streams; a drop is resumed or reported."""

    async def _receive_loop(self) -> None:
        while True:
            drop = await self._receive_until_drop()
            if drop is None:
                return
            if not self._may_resume():
                await self._report_drop(drop)
                return
            try:
                await self._reattach(drop)
            except asyncio.CancelledError:
                self._fail(ConnectionLost("cancelled"))
                raise
            except WsepError as exc:
                self._fail(exc)
                return

    async def _receive_until_drop(self) -> Drop | None:
        """Serve the current connection; a drop before the exit code is returned."""
        ws = self._ws
        conn = self._conn
        gate = self._gate.open
        stdout = self._stdout
        stderr = self._stderr
        try:
            while True:
                if not gate.is_set():
                    await self._wait_for_room()
                msg = await ws.receive()
                if msg.type in _DATA:
                    message = conn.receive(msg.data)
                    if isinstance(message, Stdout):
                        stdout.feed_data(message.data)
                    elif isinstance(message, Stderr):
                        stderr.feed_data(message.data)
                    elif isinstance(message, ExitCode):
                        self._exited(message.status)
                        break
                    elif isinstance(message, Pid):
                        self._pid = message.pid
                        if not self._pid_future.done():
                            self._pid_future.set_result(message.pid)
                    elif isinstance(message, Attached):
                        self._on_attached(message)
                    elif isinstance(message, Gap):
                        if not self._on_gap(message):
                            break
                    elif isinstance(message, Error):
                        self._error = message
                    continue
                if msg.type is aiohttp.WSMsgType.ERROR:
                    return Drop(None, f"{msg.data}", abnormal=True)
                code = msg.data if isinstance(msg.data, int) else ws.close_code
                reason = msg.extra if isinstance(msg.extra, str) else ""
                abnormal = msg.type is not aiohttp.WSMsgType.CLOSE or code in (None, 1006)
                return Drop(code, reason, abnormal=abnormal and self._error is None)
        except RemoteProtocolError as exc:
            self._fail(ConnectionLost(f"protocol error from the server: {exc}"))
            with contextlib.suppress(Exception):
                await ws.close(code=int(exc.close_code), message=exc.reason.encode())
            return None
        except asyncio.CancelledError:
            self._fail(ConnectionLost("cancelled"))
            raise
        except TRANSPORT_ERRORS as exc:  # the network went away: maybe resumable
            return Drop(None, "", abnormal=True, error=exc)
        except Exception as exc:  # a bug, not a drop: the caller gets it, nothing is resumed
            error = InternalError(f"the client failed while receiving: {exc!r}")
            error.__cause__ = exc
            self._fail(error)
            with contextlib.suppress(*TRANSPORT_ERRORS):
                await ws.close(code=CloseCode.INTERNAL_ERROR, message=b"client error")
            return None
        with contextlib.suppress(Exception):
            await ws.close()
        return None

    async def _report_drop(self, drop: Drop) -> None:
        if drop.error is not None:
            self._fail(ConnectionLost(f"connection lost: {drop.error}"))
        else:
            self._closed_early(drop.code, drop.reason)
        with contextlib.suppress(Exception):
            await self._ws.close()

    async def _wait_for_room(self) -> None:
        """Wait while a buffer is full, unless the connection drops meanwhile.

        While we do not read, aiohttp stops reading the socket too, so a loss
        would go unnoticed: every ``PROBE_INTERVAL`` seconds a ping is sent,
        and a write to a dead connection fails at once. A dropped connection
        cannot deliver more than what is already queued, so its rest is then
        taken in regardless of the limit: ``wait()`` reports the exit status
        or the loss instead of hanging.
        """
        gate = self._gate.open
        lost = self._lost
        while not gate.is_set():
            if lost is not None and lost.done():
                return  # the receive loop reports the loss
            waiter: asyncio.Future[Any] = asyncio.ensure_future(gate.wait())
            waits: list[asyncio.Future[Any]] = [waiter] if lost is None else [waiter, lost]
            try:
                done, _ = await asyncio.wait(
                    waits, timeout=PROBE_INTERVAL, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
            if not done:
                try:
                    await self._ws.ping()
                except Exception:
                    return  # the connection is gone: drain what is left

    def _exited(self, status: ExitStatus) -> None:
        self._status = status
        self._stdout.feed_eof()
        self._stderr.feed_eof()
        self._stdin.fail(BrokenPipeError("the process has exited"))
        if not self._pid_future.done():
            self._pid_future.set_result(self._pid)
        if not self._attached_future.done():
            self._attached_future.set_result(None)
        if not self._exit_future.done():
            self._exit_future.set_result(status)
        self._switch()

    def _closed_early(self, code: int | None, reason: str) -> None:
        if not self._pid_future.done():
            self._fail(start_failure(self.command, self._error, code, reason))
            return
        what = "connection lost before the exit code"
        self._fail(connection_failure(self._error, code, reason, what=what))
