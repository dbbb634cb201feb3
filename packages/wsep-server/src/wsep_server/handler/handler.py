"""One WebSocket connection running one process: the message loop and its endings.

The loop reads client messages and lets :class:`wsep_protocol.Connection`
decide what is legal; the :class:`~wsep_server.pump.OutputPump` runs beside it.
Every way a session can end (exit, client close or drop, protocol error,
refused or failed start, limit, shutdown) goes through :meth:`Session.end`,
which picks the close code and reason once; the process is always closed
(terminated, killed, reaped) in :meth:`Session.run`'s ``finally``.

Subclasses may override :meth:`Session.start_process` (e.g. to reattach a
named TTY session instead of spawning a new process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from aiohttp import WSMsgType, web
from wsep_protocol import (
    Buffer,
    CloseCode,
    CloseStdin,
    Connection,
    ConnectionState,
    Error,
    Execer,
    ExitCode,
    ExitStatus,
    MalformedMessage,
    MessageTooBig,
    Pid,
    PolicyViolation,
    Process,
    ProtocolVersion,
    RemoteProtocolError,
    Resize,
    Role,
    Signal,
    Start,
    StartError,
    Stdin,
    truncate_reason,
)

from ..client_address import CLIENT_ADDRESS_KEY
from ..config import ServerConfig
from ..flow import OutputGate
from ..hooks import (
    IDENTITY_KEY,
    Identity,
    SessionLimits,
    SessionObserver,
    SessionRecord,
    StartPolicy,
    check_start,
    notify_observers,
)
from ..pump import OutputPump
from ..sessions import SessionManager, SessionProcess
from ..sessions.serving import (
    SESSION_MESSAGES,
    SESSION_REQUESTS,
    announcement,
    answer,
    end_for_limit,
    is_session_start,
    limit_session,
    mark_request,
    note_created,
    open_process,
    session_limit,
    start_for_attach,
)

__all__ = ["Session", "error_code_for"]

_log = logging.getLogger("wsep_server.session")

# Close codes a server may send back as they came (RFC 6455 §7.4).
_ECHOABLE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
#: Messages handled in a row before the receive loop lets other tasks run.
_YIELD_EVERY = 64


def error_code_for(exc: BaseException) -> str:
    """The ``code`` of the v2 ``error`` message that reports ``exc``."""
    if isinstance(exc, StartError):
        return str(exc.kind.value)
    if isinstance(exc, MessageTooBig):
        return "message_too_big"
    if isinstance(exc, MalformedMessage):
        return "malformed_message"
    if isinstance(exc, RemoteProtocolError):
        return "protocol_violation"
    if isinstance(exc, PolicyViolation):
        return "policy_violation"
    return "internal_error"


class Session:
    """The server side of one wsep connection."""

    def __init__(
        self,
        *,
        request: web.Request,
        ws: web.WebSocketResponse,
        version: ProtocolVersion,
        execer: Execer,
        config: ServerConfig,
        policy: StartPolicy,
        observers: Sequence[SessionObserver] = (),
        session_manager: SessionManager | None = None,
    ) -> None:
        self.request = request
        self.ws = ws
        self.execer = execer
        self.config = config
        self.policy = policy
        self.observers = observers
        #: Reattachable sessions (None: every start is a new process).
        self.session_manager = session_manager
        self._attach: Any = None
        self.conn = Connection(Role.SERVER, version, max_receive_size=config.max_receive_size)
        identity = request.get(IDENTITY_KEY)
        self.record = SessionRecord(
            id=secrets.token_hex(8),
            identity=identity if isinstance(identity, Identity) else None,
            peer=_peer(request),
            protocol_version=int(version),
        )
        self.limits = SessionLimits()
        self.process: Process | None = None
        self.status: ExitStatus | None = None
        self._pump: OutputPump | None = None
        self.flow = OutputGate()
        self._pump_task: asyncio.Task[None] | None = None
        self._ending = False
        self._ended = asyncio.Event()
        self._closing = asyncio.Event()
        self._limit_close: tuple[int, str] | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()

    # --- life cycle --------------------------------------------------------

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
            _log.exception("session %s failed", self.record.id)
            await self.end(
                CloseCode.INTERNAL_ERROR, "internal server error", f"internal error: {exc}"
            )
        finally:
            await self._cleanup()

    async def end(
        self,
        close_code: int,
        reason: str,
        end_reason: str,
        *,
        error: tuple[str, str] | None = None,
    ) -> None:
        """End the session once: optional v2 ``error`` (code, message), then the close.

        Later calls do nothing, so the first cause is the one reported.
        """
        if self._ending:
            return
        self._ending = True
        self._set_reason(end_reason)
        self.record.close_code = close_code
        if error is not None and self.conn.extended and not self.ws.closed:
            with contextlib.suppress(Exception):
                message = Error(error[0], error[1], close_code)
                await self.ws.send_bytes(self.conn.send(message))
        self._closing.set()
        await self._close_ws(close_code, reason)

    async def shutdown(self) -> None:
        """End for a server shutdown (close 1001), and wait until cleaned up."""
        await self.end(
            CloseCode.GOING_AWAY,
            "server shutting down",
            "server shutdown",
            error=("server_shutdown", "the server is shutting down"),
        )
        await self._ended.wait()

    async def _close_ws(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=truncate_reason(reason).encode("utf-8"))

    def _set_reason(self, reason: str) -> None:
        if not self.record.end_reason:
            self.record.end_reason = reason

    async def _cleanup(self) -> None:
        for timer in self._timers:
            timer.cancel()
        try:
            if self.process is not None:
                try:
                    await self.process.close()
                except Exception:
                    _log.exception("session %s: closing the process failed", self.record.id)
                if self._pump_task is not None and not self._pump_task.done():
                    self._pump_task.cancel()
                    with contextlib.suppress(BaseException):
                        await self._pump_task
                if self.status is None:
                    with contextlib.suppress(Exception):
                        self.status = await asyncio.wait_for(self.process.wait(), 1.0)
            for task in list(self._tasks):
                task.cancel()
            if not self.ws.closed:
                code = CloseCode.GOING_AWAY if self.record.end_reason else CloseCode.NORMAL_CLOSURE
                self._set_reason("exited")
                await self._close_ws(code, "session ended")
        finally:
            if self.record.argv:
                self.record.ended = time.time()
                self.record.exit_status = self.status
                if self._pump is not None:
                    self.record.bytes_out = self._pump.bytes_out
                await notify_observers(self.observers, "on_end", self.record)
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
                if isinstance(message, SESSION_MESSAGES):
                    await self._session_message(message)
                elif isinstance(message, Stdin):
                    await self._write_stdin(message.data)
                elif isinstance(message, Start):
                    await self._start(message)
                elif isinstance(message, CloseStdin):
                    if self.process is not None:
                        with contextlib.suppress(Exception):
                            self.process.stdin.close()
                elif isinstance(message, Resize):
                    if self.process is not None:
                        with contextlib.suppress(Exception):
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
            error=(error_code_for(exc), str(exc)),
        )

    async def _write_stdin(self, data: Buffer) -> None:
        process = self.process
        if process is None or not len(data):
            return
        self.record.bytes_in += len(data)
        try:
            stdin = process.stdin
            stdin.write(data)
            if not getattr(stdin, "needs_drain", True):
                # Below the high-water mark: no drain task, no wait. This was half of the
                # server's CPU per stdin message (bench: v1 stdin 381 -> 716 MiB/s).
                return
            drain = asyncio.ensure_future(stdin.drain())
            if not drain.done():
                await self._wait_drain(drain)
            else:
                drain.result()
        except (ConnectionError, OSError, RuntimeError):
            pass  # the process closed its stdin or exited: input is moot

    async def _wait_drain(self, drain: asyncio.Future[None]) -> None:
        """Wait for a blocked stdin, noticing meanwhile if the session ends."""
        closing: asyncio.Future[bool] = asyncio.ensure_future(self._closing.wait())
        try:
            while not drain.done():
                await asyncio.wait(
                    (drain, closing), timeout=0.5, return_when=asyncio.FIRST_COMPLETED
                )
                if drain.done():
                    break
                transport = self.request.transport
                if closing.done() or transport is None or transport.is_closing():
                    self._set_reason("client disconnected")
                    drain.cancel()
                    return
            drain.result()
        finally:
            closing.cancel()

    # --- starting ----------------------------------------------------------

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
            await self.end(
                exc.close_code, exc.reason, f"policy: {exc}", error=("policy_violation", str(exc))
            )
            return
        try:
            self.process = await self.start_process(start)
        except StartError as exc:
            await self.end(
                exc.close_code, exc.reason, f"start failed: {exc}", error=(exc.kind.value, str(exc))
            )
            return
        except PolicyViolation as exc:
            await self.end(
                exc.close_code, exc.reason, f"policy: {exc}", error=("policy_violation", str(exc))
            )
            return
        except Exception as exc:
            _log.exception("session %s: execer failed to start %r", record.id, command.command)
            await self.end(
                CloseCode.INTERNAL_ERROR,
                f"failed to start: {exc}",
                f"start failed: {exc!r}",
                error=("start_failed", str(exc)),
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
            max_size=self.conn.max_message_size,
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

    async def _session_message(self, message: Any) -> None:
        """v2 sessions: ``attach`` (instead of ``start``) or a management request."""
        manager = self.session_manager
        try:
            if manager is None:
                raise PolicyViolation("reattachable sessions are off on this server")
            if not isinstance(message, SESSION_REQUESTS):  # an attach
                start = start_for_attach(manager, self.record.identity, message)
                self._attach = message
                await self._start(start)
                return
            reply = await answer(manager, self.record.identity, message)
        except PolicyViolation as exc:
            code = getattr(exc, "code", "policy_violation")
            await self.end(exc.close_code, exc.reason, f"policy: {exc}", error=(code, str(exc)))
            return
        await self._send(self.conn.send(reply))

    async def _send(self, data: Buffer) -> None:
        await self.ws.send_bytes(data)  # type: ignore[arg-type]

    # --- output and exit ---------------------------------------------------

    async def _pump_and_exit(self, pump: OutputPump) -> None:
        try:
            self.status = status = await pump.run()
            if self._limit_close is None and (reason := session_limit(self.process)):
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
            _log.exception("session %s: output pump failed", self.record.id)
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
        self._spawn(self.end(CloseCode.NORMAL_CLOSURE, "exited", "exited"))

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
        self._spawn(self._end_for_limit(reason))

    async def _send_limit_error(self, reason: str) -> None:
        if self.conn.extended and self.conn.state is ConnectionState.RUNNING:
            with contextlib.suppress(Exception):
                message = Error("limit_exceeded", reason, int(CloseCode.POLICY_VIOLATION))
                await self._send(self.conn.send(message))

    async def _end_for_limit(self, reason: str) -> None:
        await self._send_limit_error(reason)
        process = self.process
        if process is None or end_for_limit(process, reason):
            return  # a session's end closes its process: the pump sees the exit as below
        if isinstance(process, SessionProcess):  # an observer: only its connection ends
            await self.end(CloseCode.POLICY_VIOLATION, reason, f"limit: {reason}")
            return
        # The pump then sees EOF, sends exit_code, and closes with 1008.
        await process.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _peer(request: web.Request) -> str:
    forwarded = request.get(CLIENT_ADDRESS_KEY)  # a trusted proxy's word (client_address.py)
    if isinstance(forwarded, str) and forwarded:
        return forwarded
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    if peer:
        return str(peer)
    return request.remote or ""
