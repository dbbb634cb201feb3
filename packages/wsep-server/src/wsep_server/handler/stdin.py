"""Client input to the process: write, and wait out a full pipe (backpressure)."""

from __future__ import annotations

import asyncio

from wsep_protocol import Buffer, DrainAwareWriter

from .base import ConnectionBase

__all__ = ["StdinWriting"]


class StdinWriting(ConnectionBase):
    """Writes ``stdin`` messages; a full pipe stops the receive loop until it drains."""

    async def _write_stdin(self, data: Buffer) -> None:
        process = self.process
        if process is None or not len(data):
            return
        self.record.bytes_in += len(data)
        try:
            stdin = process.stdin
            if stdin is not self._stdin:
                # Asked once per writer, not per message: isinstance against a
                # protocol checks every member.
                self._stdin = stdin
                self._stdin_hint = stdin if isinstance(stdin, DrainAwareWriter) else None
            stdin.write(data)
            hint = self._stdin_hint
            if hint is not None and not hint.needs_drain:
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
        """Wait for a blocked stdin, noticing meanwhile if the connection ends."""
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
