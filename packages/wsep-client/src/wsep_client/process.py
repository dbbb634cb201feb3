"""A process running on a wsep server, driven over its own WebSocket.

The public classes live here; their parts by idea: :mod:`._receiving` (the
receive loop, drop detection, failures), :mod:`._resuming` (reattach, offsets,
gaps, resends) and :mod:`._process_state` (the attributes they share).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal as _signal
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from wsep_protocol import (
    CloseStdin,
    Command,
    Connection,
    Error,
    ExitStatus,
    Resize,
    Signal,
    Start,
    Stdin,
)
from wsep_protocol.sessions import Attach, Gap

from ._aiohttp_internals import connection_lost_future
from ._futures import consume_exception
from ._receiving import PROBE_INTERVAL as PROBE_INTERVAL
from ._receiving import _Receiving
from .errors import ConnectionLost, LocalProtocolError, NotSupported
from .result import returncode_of
from .resume import Reconnect, ResumeOptions
from .streams import DEFAULT_LIMIT, RemoteStdin, RemoteStreamReader, _Gate

if TYPE_CHECKING:
    from aiohttp import ClientWebSocketResponse

_P = TypeVar("_P", bound="ProcessBase")

__all__ = ["ExecerProcess", "ProcessBase", "RemoteProcess"]


class ProcessBase(_Receiving):
    """What both views of a remote process share (see :class:`RemoteProcess`).

    Created by :meth:`RemoteExecer.start`/``create_process`` once the server
    reported the pid. Read ``stdout``/``stderr`` (``asyncio.StreamReader``
    API), write ``stdin``, then ``await wait()``. Buffers are bounded: an
    unread stream eventually blocks the other one, as with pipes; use
    :meth:`communicate` when in doubt.
    """

    def __init__(
        self,
        ws: ClientWebSocketResponse[Any],
        connection: Connection,
        command: Command,
        *,
        limit: int = DEFAULT_LIMIT,
        owned_http_session: aiohttp.ClientSession | None = None,
        reconnect: Reconnect | None = None,
        resume: ResumeOptions | None = None,
    ) -> None:
        self._ws = ws
        self._conn = connection
        self.command = command
        self._owned_http_session = owned_http_session
        gate = _Gate()
        self._gate = gate
        self._stdout = RemoteStreamReader(gate, 1, limit)
        self._stderr = RemoteStreamReader(gate, 2, limit)
        if command.tty:
            self._stderr.feed_eof()
        self._stdin = RemoteStdin(
            self._send_bytes,
            max_message_size=connection.max_message_size,
            close_message=self._close_stdin_message,
            enabled=command.stdin_enabled,
            frames=connection.frame_buffer(Stdin),
        )
        loop = asyncio.get_running_loop()
        self._pid_future: asyncio.Future[int] = loop.create_future()
        self._exit_future: asyncio.Future[ExitStatus] = loop.create_future()
        self._pid = 0
        self._status: ExitStatus | None = None
        self._error: Error | None = None
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        # Taken now: aiohttp may drop its reference to the protocol once the
        # connection is gone, and we need this future exactly then.
        self._lost = connection_lost_future(ws)
        # Sessions and resumable jobs (v2 ``attach``).
        self._reconnect = reconnect
        self._resume = resume or ResumeOptions()
        self._attached_future: asyncio.Future[None] = loop.create_future()
        self._base = {1: 0, 2: 0}  # stream offset of the first byte fed to each reader
        #: The session id (``""`` for an ordinary process).
        self.session_id = ""
        #: A resumable job: a dropped connection is resumed (see ``ResumeOptions``).
        self.resumable = False
        self.read_only = False
        #: ``wsep_protocol.sessions.Gap`` notices received with ``on_gap="mark"``.
        self.gaps: list[Gap] = []
        #: How many times the connection was resumed.
        self.reconnects = 0
        #: The terminal size to ask for when reattaching.
        self._size = (command.rows, command.cols)
        #: Resolved (and replaced) whenever the connection is replaced or given up.
        self._switched: asyncio.Future[None] = loop.create_future()
        #: The last queued resize or signal: the next one is sent after it.
        self._last_send: asyncio.Future[None] | None = None

    # --- start -------------------------------------------------------------

    async def _start(self, session_id: str = "", *, attach: Attach | None = None) -> None:
        """Send ``start`` (or ``attach``) and wait for the pid (or the reason there is none)."""
        message = Start(self.command, session_id) if attach is None else attach
        self.session_id = session_id if attach is None else attach.id
        if attach is not None and attach.rows and attach.cols:
            self._size = (attach.rows, attach.cols)
        data = self._conn.send(message)
        await self._ws.send_bytes(data)
        self._task = asyncio.get_running_loop().create_task(self._receive_loop())
        try:
            self._pid = await asyncio.shield(self._pid_future)
            if attach is not None:
                await asyncio.shield(self._attached_future)
        except BaseException:
            await self.close()
            raise

    # --- public API --------------------------------------------------------

    @property
    def pid(self) -> int:
        """The process id on the server's host."""
        return self._pid

    @property
    def stdin(self) -> RemoteStdin:
        return self._stdin

    @property
    def stdout(self) -> RemoteStreamReader:
        return self._stdout

    @property
    def stderr(self) -> RemoteStreamReader:
        return self._stderr

    @property
    def protocol_version(self) -> int:
        return int(self._conn.version)

    @property
    def returncode(self) -> int | None:
        """None while running; the exit code, or ``-N`` when signal N ended it."""
        return None if self._status is None else returncode_of(self._status)

    @property
    def exit_status(self) -> ExitStatus | None:
        return self._status

    def offsets(self) -> dict[str, int]:
        """Bytes of each stream received so far, as stream offsets (for ``attach(offsets=)``)."""
        return {"stdout": self._offset(1), "stderr": self._offset(2)}

    @property
    def termination_reason(self) -> str | None:
        """Why the server ended the process (a policy limit such as its maximum
        duration), or None when it ended by itself or by a signal from this side."""
        return self._error.message or self._error.code if self._error is not None else None

    async def _wait_status(self) -> ExitStatus:
        return await asyncio.shield(self._exit_future)

    async def communicate(self, input: bytes | None = None) -> tuple[bytes, bytes]:
        """Send ``input``, close stdin, read both streams to EOF, wait for the exit."""
        if input and not self.command.stdin_enabled:
            raise LocalProtocolError("communicate(input): stdin was not enabled for this process")
        out: list[bytes] = []
        err: list[bytes] = []
        await self._communicate(input, out, err)
        return b"".join(out), b"".join(err)

    async def _communicate(self, input: bytes | None, out: list[bytes], err: list[bytes]) -> None:
        tasks = [_collect(self._stdout, out), _collect(self._stderr, err)]
        if self.command.stdin_enabled:
            tasks.append(self._feed(input))
        await asyncio.gather(*tasks)
        await self._wait_status()

    async def _feed(self, input: bytes | None) -> None:
        stdin = self._stdin
        try:
            if input:
                stdin.write(input)
                await stdin.drain()
            stdin.close()
        except (BrokenPipeError, ConnectionResetError, LocalProtocolError):
            pass  # the process exited without reading everything, as with pipes

    def _resize(self, rows: int, cols: int) -> asyncio.Future[None]:
        if rows and cols:
            self._size = (rows, cols)  # also what a reattach asks for
        return self._queue(Resize(rows, cols))

    def _send_signal(self, signum: int) -> asyncio.Future[None]:
        if not self._conn.extended:
            raise NotSupported(
                "signals need a wsep v2 server; this one speaks v1 "
                "(close() ends the process instead)"
            )
        return self._queue(Signal.from_number(signum))

    async def close(self) -> None:
        """Close the connection; a process still running is ended by the server."""
        if not self._closed:
            self._closed = True
            if self._status is None:
                self._fail(ConnectionLost("process closed before it exited"))
            await self._stdin.stop()
            with contextlib.suppress(Exception):
                await self._ws.close()
        task = self._task
        if task is not None and not task.done():
            if self._status is None:
                task.cancel()  # it may be parked on a full buffer: never wait for that
            await _finish(task)
        if self._owned_http_session is not None:
            http_session, self._owned_http_session = self._owned_http_session, None
            await http_session.close()

    async def __aenter__(self: _P) -> _P:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "running" if self._status is None else f"returncode={self.returncode}"
        return f"<RemoteProcess pid={self._pid} {state} {' '.join(self.command.argv)!r}>"

    # --- internals ---------------------------------------------------------

    def _close_stdin_message(self) -> bytes:
        return self._conn.send(CloseStdin())

    def _queue(self, message: Resize | Signal) -> asyncio.Future[None]:
        """Encode ``message`` now (refusals raise here) and send it after the ones before."""
        loop = asyncio.get_running_loop()
        if self._status is not None:
            done: asyncio.Future[None] = loop.create_future()
            done.set_result(None)  # the process is gone; nothing to resize or signal
            return done
        exc = self._exit_future.exception() if self._exit_future.done() else None
        if exc is not None:
            raise exc
        data = self._conn.send(message)
        previous = self._last_send

        async def send() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            if self._status is not None:
                return
            try:
                await self._send_bytes(data)
            except (ConnectionError, RuntimeError) as err:
                raise ConnectionLost(f"connection lost: {err}") from err

        task = loop.create_task(send())
        task.add_done_callback(consume_exception)  # a caller that does not await is not warned
        self._last_send = task
        return task


class RemoteProcess(ProcessBase):
    """One remote process, used like ``asyncio.subprocess.Process``.

    Read ``stdout``/``stderr`` (``asyncio.StreamReader`` API), write
    ``stdin``, then ``await wait()`` for the return code. ``send_signal``,
    ``terminate``, ``kill`` and ``resize`` are plain calls, sent in order in
    the background. Buffers are bounded: an unread stream eventually blocks
    the other one, as with pipes; use :meth:`communicate` when in doubt.
    """

    async def wait(self) -> int:
        """Wait for the exit; the return code as asyncio gives it (``-N`` for signal N).

        ``exit_status`` then holds the full :class:`~wsep_protocol.ExitStatus`.
        Raises :class:`ConnectionLost`, never hangs on a lost peer. Output not
        read yet stays buffered; an unread, full stream keeps the exit code
        from arriving (as with pipes).
        """
        return returncode_of(await self._wait_status())

    def resize(self, rows: int, cols: int) -> asyncio.Future[None]:
        """Set the TTY size (ignored for processes without a TTY).

        Sent in the background, in order with signals; await the result to
        see it sent (or the :class:`ConnectionLost` that kept it from being sent).
        """
        return self._resize(rows, cols)

    def send_signal(self, signum: int) -> asyncio.Future[None]:
        """Deliver ``signum``, like ``asyncio.subprocess.Process.send_signal``.

        A plain call: the message is queued at once (await the result to see
        it sent). Needs a v2 server: :class:`NotSupported` otherwise, at once.
        """
        return self._send_signal(signum)

    def terminate(self) -> asyncio.Future[None]:
        """SIGTERM (see :meth:`send_signal`)."""
        return self.send_signal(_signal.SIGTERM)

    def kill(self) -> asyncio.Future[None]:
        """SIGKILL (see :meth:`send_signal`)."""
        return self.send_signal(_signal.SIGKILL)


class ExecerProcess(ProcessBase):
    """The same process as ``wsep_protocol.Process`` sees it (what ``start()`` returns).

    ``wait()`` returns the :class:`~wsep_protocol.ExitStatus`, and resizes and
    signals are coroutines, as every execer's processes have them (a server
    chaining to another one drives it through this view).
    """

    async def wait(self) -> ExitStatus:
        """Wait for the exit status (see :meth:`RemoteProcess.wait`)."""
        return await self._wait_status()

    async def resize(self, rows: int, cols: int) -> None:
        await self._resize(rows, cols)

    async def send_signal(self, signum: int) -> None:
        await self._send_signal(signum)

    async def terminate(self) -> None:
        await self._send_signal(_signal.SIGTERM)

    async def kill(self) -> None:
        await self._send_signal(_signal.SIGKILL)


async def _finish(task: asyncio.Future[Any]) -> None:
    """Wait for ``task`` and consume its outcome, without swallowing our own cancellation."""
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


async def _collect(reader: RemoteStreamReader, into: list[bytes]) -> None:
    while True:
        chunk = await reader.read(1 << 20)
        if not chunk:
            return
        into.append(chunk)
