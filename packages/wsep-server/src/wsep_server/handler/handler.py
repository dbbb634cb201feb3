"""One WebSocket connection running one process: the message loop and its endings.

The loop reads client messages and lets :class:`wsep_protocol.Connection`
decide what is legal; the :class:`~wsep_server.pump.OutputPump` runs beside it
(:mod:`.output`). Every way a connection can end (exit, client close or drop,
protocol error, refused or failed start, limit, shutdown) goes through
:meth:`~.base.ConnectionBase.end`, which picks the close code and reason once;
the process is always closed (terminated, killed, reaped) in
:meth:`ConnectionHandler.run`'s ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import WSMsgType
from wsep_protocol import (
    CloseCode,
    CloseStdin,
    ErrorCode,
    RemoteProtocolError,
    Resize,
    Signal,
    Start,
    Stdin,
    WsepError,
)

from ..hooks import notify_observers
from ..tasks import cancel_and_settle
from .starting import Starting
from .stdin import StdinWriting

__all__ = ["ConnectionHandler", "error_code_for"]

_log = logging.getLogger(__name__)
#: What a process's stdin close or resize may raise once it (or its terminal, or a
#: chained server's connection) is gone. Anything else is an execer bug: it reaches
#: ``run``, which logs it with its traceback and closes the connection with 1011.
_PROCESS_GONE: tuple[type[Exception], ...] = (OSError, ValueError, WsepError)

# Close codes a server may send back as they came (RFC 6455 §7.4).
_ECHOABLE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
#: Messages handled in a row before the receive loop lets other tasks run.
_YIELD_EVERY = 64


def error_code_for(exc: BaseException) -> str:
    """Deprecated: the wire string of ``exc.error_code`` (:class:`wsep_protocol.ErrorCode`)."""
    code = exc.error_code if isinstance(exc, WsepError) else ErrorCode.INTERNAL_ERROR
    return code.value


class ConnectionHandler(Starting, StdinWriting):
    """The server side of one wsep connection."""

    async def run(self) -> None:
        """Serve the connection until it ends; always cleans up the process."""
        try:
            await self._receive_loop()
        except asyncio.CancelledError:
            self._set_reason("server shutdown")
            raise
        except ConnectionError:
            # A send (e.g. the pid) hit a connection the client had already reset.
            self._set_reason("client disconnected")
        except Exception as exc:
            _log.exception("connection %s failed", self.record.id)
            await self.end(
                CloseCode.INTERNAL_ERROR, "internal server error", f"internal error: {exc}"
            )
        finally:
            await self._cleanup()

    async def _cleanup(self) -> None:
        for timer in self._timers:
            timer.cancel()
        try:
            if self.process is not None:
                try:
                    await self.process.close()
                except Exception:
                    _log.exception("connection %s: closing the process failed", self.record.id)
                if self._pump_task is not None:
                    what = f"connection {self.record.id}: output"
                    await cancel_and_settle(self._pump_task, _log, what)
                if self.status is None and not self.sessions.outlives_connection():
                    try:
                        self.status = await asyncio.wait_for(self.process.wait(), 1.0)
                    except asyncio.TimeoutError:
                        pass
                    except Exception:
                        _log.exception("connection %s: waiting for the exit failed", self.record.id)
            await self._tasks.close()
            if not self.ws.closed:
                code = CloseCode.GOING_AWAY if self.record.end_reason else CloseCode.NORMAL_CLOSURE
                self._set_reason("exited")
                await self._close_ws(code, "session ended")
        finally:
            try:
                if self.record.argv:
                    self.record.ended = time.time()
                    self.record.exit_status = self.status
                    if self._pump is not None:
                        self.record.bytes_out = self._pump.bytes_out
                    await notify_observers(self.observers, "on_end", self.record)
            finally:
                # Last, once the process is reaped: a per-identity count never
                # lets a new start overlap the process this one allowed.
                if self.decision is not None:
                    self.sessions.release_after(self.decision.lease)
            self._ended.set()

    # --- receiving ---------------------------------------------------------

    async def _receive_loop(self) -> None:
        ws = self.ws
        received = 0
        while True:
            try:
                msg = await ws.receive()
            except ConnectionError:
                # Only with aiohttp's autoping (a custom ``WebSocketResponse``): its pong
                # on a transport the client already reset raises. The client went away.
                self._set_reason("client disconnected")
                return
            received += 1
            if received % _YIELD_EVERY == 0:
                # receive() does not suspend while messages are queued: without this a
                # burst of tiny messages (or pings) holds the event loop and stalls
                # other clients.
                await asyncio.sleep(0)
            kind = msg.type
            if kind is WSMsgType.PING:
                # autoping is off (app.py) so that pings count in the yield budget above.
                try:
                    await ws.pong(msg.data)
                except ConnectionError:
                    self._set_reason("client disconnected")
                    return
                continue
            if kind is WSMsgType.PONG:
                continue  # answers to the heartbeat; any data received resets it
            if kind is WSMsgType.BINARY or kind is WSMsgType.TEXT:
                try:
                    message = self.conn.receive(msg.data)
                    if self.flow.receive(message):
                        continue  # flow / flow_ack: credit for the output pump
                except RemoteProtocolError as exc:
                    await self._violation(exc)
                    return
                if message is None:
                    continue
                if self.sessions.accepts(message):
                    await self._session_message(message)
                elif isinstance(message, Stdin):
                    await self._write_stdin(message.data)
                elif isinstance(message, Start):
                    await self._start(message)
                elif isinstance(message, CloseStdin):
                    if self.process is not None:
                        with contextlib.suppress(*_PROCESS_GONE):
                            self.process.stdin.close()
                elif isinstance(message, Resize):
                    if self.process is not None:
                        with contextlib.suppress(*_PROCESS_GONE):
                            await self.process.resize(message.rows, message.cols)
                elif isinstance(message, Signal) and self.process is not None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        await self.process.send_signal(message.number)
                if self._closing.is_set():
                    return
            elif kind is WSMsgType.CLOSE:
                self._set_reason("client closed" if self.status is None else "exited")
                code = msg.data if msg.data in _ECHOABLE else CloseCode.NORMAL_CLOSURE
                # Echo the peer's code and reason, as the Go server does.
                await self._close_ws(code, msg.extra or "")
                return
            elif kind is WSMsgType.ERROR:
                self._set_reason(f"protocol error: {ws.exception()}")
                return
            else:  # CLOSING, CLOSED: the connection is gone or we closed it
                self._set_reason("client disconnected")
                return

    async def _violation(self, exc: RemoteProtocolError) -> None:
        await self.end(
            exc.close_code,
            exc.reason,
            f"protocol error: {exc}",
            error=(exc.error_code, str(exc)),
        )
