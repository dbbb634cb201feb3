"""What a remote process holds, shared by its parts; how waiters learn of a failure."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp
from wsep_protocol import Command, Connection, Error, ExitStatus, WsepError
from wsep_protocol.sessions import Gap

from .resume import Reconnect, ResumeOptions
from .streams import RemoteStdin, RemoteStreamReader, _Gate

if TYPE_CHECKING:
    from aiohttp import ClientWebSocketResponse

__all__: list[str] = []


class _ProcessState:
    """The attributes :class:`~wsep_client.process.ProcessBase` sets up, typed once."""

    _ws: ClientWebSocketResponse[Any]
    _conn: Connection
    command: Command
    _owned_http_session: aiohttp.ClientSession | None
    _gate: _Gate
    _stdout: RemoteStreamReader
    _stderr: RemoteStreamReader
    _stdin: RemoteStdin
    _pid_future: asyncio.Future[int]
    _exit_future: asyncio.Future[ExitStatus]
    _pid: int
    _status: ExitStatus | None
    _error: Error | None
    _closed: bool
    _task: asyncio.Task[None] | None
    _lost: asyncio.Future[None] | None
    _reconnect: Reconnect | None
    _resume: ResumeOptions
    _attached_future: asyncio.Future[None]
    _base: dict[int, int]
    session_id: str
    resumable: bool
    read_only: bool
    gaps: list[Gap]
    reconnects: int
    _size: tuple[int, int]
    _switched: asyncio.Future[None]
    _last_send: asyncio.Future[None] | None

    def _switch(self) -> None:
        """Wake senders waiting for a new connection (or for the news there is none)."""
        if not self._switched.done():
            self._switched.set_result(None)
        self._switched = asyncio.get_running_loop().create_future()

    def _offset(self, key: int) -> int:
        reader = self._stdout if key == 1 else self._stderr
        return self._base[key] + reader.bytes_received

    def _fail(self, error: WsepError) -> None:
        """End everything that waits with ``error`` (idempotent)."""
        if self._status is not None:
            return
        if not self._pid_future.done():
            self._pid_future.set_exception(error)
            self._pid_future.exception()  # mark retrieved
        if not self._exit_future.done():
            self._exit_future.set_exception(error)
            self._exit_future.exception()
        if not self._attached_future.done():
            self._attached_future.set_exception(error)
            self._attached_future.exception()
        for reader in (self._stdout, self._stderr):
            if not reader.at_eof() and not reader.ending:
                reader.set_exception(error)
        self._stdin.fail(
            error if isinstance(error, ConnectionError) else BrokenPipeError(str(error))
        )
        self._switch()
