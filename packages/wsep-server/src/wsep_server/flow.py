"""Flow control on the server side: the output pump waits for the client's credit.

The accounting is :class:`wsep_protocol.FlowWindow` (sans I/O); this adds the
waiting. The pump reserves credit before it reads the child, so while the
client's window is full nothing is read, the child blocks on its full pipe or
TTY, and input such as Ctrl-C is still processed at once.
"""

from __future__ import annotations

import asyncio

from wsep_protocol import FlowWindow

__all__ = ["OutputGate"]


class OutputGate:
    """One connection's output window, shared by its stdout and stderr copiers."""

    def __init__(self) -> None:
        self.window = FlowWindow()
        self._changed = asyncio.Event()
        self._closed = False

    def receive(self, message: object) -> bool:
        """Apply a ``flow``/``flow_ack`` message; return whether it was one.

        Raises :class:`wsep_protocol.ProtocolViolation` for an impossible ack.
        """
        if not self.window.receive(message):
            return False
        self._changed.set()
        return True

    async def reserve(self, want: int, stream: object = None) -> int:
        """Wait until some credit is free, then take up to ``want`` bytes of it for ``stream``."""
        while True:
            granted = self.window.reserve(want, stream)
            if granted or want <= 0:
                return granted
            self._changed.clear()
            await self._changed.wait()

    def commit(self, stream: object, sent: int) -> None:
        """``sent`` bytes of ``stream``'s reservation were sent (0 at EOF); wakes waiters."""
        self.window.commit(stream, sent)
        self._changed.set()

    def close(self) -> None:
        """Stop limiting (the client is gone or the process is ending): wake every waiter."""
        self._closed = True
        self.window.window = 0
        self._changed.set()

    @property
    def closed(self) -> bool:
        return self._closed
