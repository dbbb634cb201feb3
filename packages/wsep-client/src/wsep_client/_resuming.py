"""Resuming a dropped connection: reattach at the offsets received, gaps, resends."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

from wsep_protocol.sessions import Attach, Attached, Gap

from ._aiohttp_internals import connection_lost_future
from ._process_state import _ProcessState
from .errors import OutputGap
from .resume import Drop, reopen

__all__: list[str] = []

#: Sends of one message: the first, then one after each resume while it keeps failing.
_SEND_ATTEMPTS = 3
_READ_ONLY = "read-only attachment: input (stdin, resize, signals) is refused"


class _Resuming(_ProcessState):
    """Resends, reattaches and offsets of a process whose connection may be resumed."""

    async def _send_bytes(self, data: bytes) -> None:
        """Send on the current connection; one that is being resumed is waited for.

        Input that reached a connection before it silently died is lost, as
        with ssh; input that failed to send is sent again on the new one.
        """
        for _ in range(_SEND_ATTEMPTS):
            ws, switched = self._ws, self._switched
            try:
                await ws.send_bytes(data)
                return
            except (ConnectionError, RuntimeError):
                if not self._may_resume():
                    raise
            # The receive loop notices the drop and resumes: wait for that.
            waiters: list[asyncio.Future[Any]] = [switched, self._exit_future]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if self._exit_future.done():
                break
        raise ConnectionResetError("connection lost while resuming")

    def _may_resume(self) -> bool:
        terminal = self._resume.terminals and self.command.tty and bool(self.session_id)
        return (
            (self.resumable or terminal)
            and self._reconnect is not None
            and self._resume.retries > 0
            and not self._closed
            and self._status is None
            and self._attached_future.done()
            and not self._exit_future.done()
        )

    async def _reattach(self, drop: Drop) -> None:
        """Resume on a new connection at the offsets delivered so far (or raise)."""
        assert self._reconnect is not None
        with contextlib.suppress(Exception):
            await self._ws.close()
        resumable = self.resumable
        attach = lambda: Attach(  # noqa: E731 -- the offsets and size as of each attempt
            self.session_id,
            read_only=self.read_only,
            rows=self._size[0],
            cols=self._size[1],
            stdout_offset=self._offset(1) if resumable else None,
            stderr_offset=self._offset(2) if resumable else None,
        )
        ws, conn = await reopen(self._reconnect, attach, self._resume, drop, lambda: self._closed)
        self._ws, self._conn, self._lost = ws, conn, connection_lost_future(ws)
        self.reconnects += 1
        self._switch()

    def _on_attached(self, message: Attached) -> None:
        self.resumable = message.resumable
        self.read_only = message.read_only
        self.session_id = message.id
        if message.resumable:  # the output that follows starts at these offsets
            self._base[1] = message.stdout_offset - self._stdout.bytes_received
            self._base[2] = message.stderr_offset - self._stderr.bytes_received
        if self._attached_future.done():
            return
        if message.tty != self.command.tty:
            self.command = replace(self.command, tty=message.tty)
            if message.tty:
                self._stderr.feed_eof()
        if message.read_only:
            self._stdin.disable(_READ_ONLY)
        self._attached_future.set_result(None)

    def _on_gap(self, gap: Gap) -> bool:
        """Record or raise a gap; False ends this connection (the error is reported)."""
        if self._resume.on_gap == "mark":
            self.gaps.append(gap)
            return True
        error = OutputGap(gap.stream, gap.offset, gap.length)
        for reader in (self._stdout, self._stderr):  # what came before the gap is read first
            if not reader.at_eof():
                reader.fail_after_data(error)
        self._fail(error)
        return False
