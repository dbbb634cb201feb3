"""Flow control (a v2 extension): a credit window on the server's output.

A WebSocket only pushes back once the TCP window fills, and a browser reads
every message into memory long before its terminal has rendered it, so a
command like ``yes`` can put hundreds of megabytes between the child and the
screen; Ctrl-C then takes seconds to show. With flow control the client says
how many output bytes may be in flight (``flow``) and reports what it has
consumed (``flow_ack``); the server stops reading the child while the window
is full, so the child blocks on its pipe or TTY and an interrupt takes effect
at once. Nothing is ever dropped.

Counts are of stdout and stderr *body* bytes (headers excluded), cumulative
from the start of the connection, so a lost or reordered ``flow`` message
cannot make the two sides disagree. A server that does not know the
extension ignores both messages (unknown types); the client then simply gets
no flow control. :class:`FlowWindow` is the sans-I/O accounting a server uses.

:data:`FLOW` is the extension as a :class:`~wsep_protocol.Registry` takes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from .codec import encode_json
from .errors import MalformedMessage, ProtocolViolation
from .messages import ExtensionMessage
from .registry import Extension

__all__ = ["FLOW", "MAX_COUNT", "MAX_WINDOW", "Flow", "FlowAck", "FlowWindow"]

#: Largest window a client may ask for (2**32 - 1 bytes).
MAX_WINDOW = 0xFFFF_FFFF
#: Largest byte count, the largest integer a JavaScript number holds exactly.
MAX_COUNT = 2**53 - 1


def _get_count(obj: Mapping[str, object], key: str, where: str, high: int) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedMessage(f"{where}.{key} must be an integer")
    if not 0 <= value <= high:
        raise MalformedMessage(f"{where}.{key} out of range (0..{high}): {value}")
    return value


@dataclass(frozen=True, slots=True)
class Flow(ExtensionMessage):
    """Client: at most ``window`` unacknowledged output bytes; 0 turns flow control off."""

    TYPE: ClassVar[str] = "flow"
    window: int

    def encode(self) -> bytes:
        return encode_json({"type": self.TYPE, "window": self.window}) + b"\n"

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> Flow:
        return cls(_get_count(header, "window", "flow", MAX_WINDOW))


@dataclass(frozen=True, slots=True)
class FlowAck(ExtensionMessage):
    """Client: ``consumed`` output body bytes in all have been consumed."""

    TYPE: ClassVar[str] = "flow_ack"
    consumed: int

    def encode(self) -> bytes:
        return encode_json({"type": self.TYPE, "consumed": self.consumed}) + b"\n"

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> FlowAck:
        return cls(_get_count(header, "consumed", "flow_ack", MAX_COUNT))


#: The flow-control extension: two client messages.
FLOW = Extension("flow", client=(Flow, FlowAck))


class FlowWindow:
    """The server's account of one connection's output window.

    Off until a :class:`Flow` arrives. Each output stream *reserves* credit
    before the server reads the child (so concurrent stdout and stderr readers
    cannot overshoot together), then *commits* the count actually sent.

    A reservation taken while flow control was off is not metered: whatever it
    reads is sent (and counted) even if a window arrived meanwhile, so the
    output read before the client's ``flow`` may exceed the window once, by at
    most one message per stream. Every later read stays within the window.
    """

    def __init__(self) -> None:
        self.window = 0
        self.sent = 0
        self.consumed = 0
        self._held: dict[object, tuple[int, bool]] = {}

    @property
    def enabled(self) -> bool:
        return self.window > 0

    @property
    def reserved(self) -> int:
        """Bytes reserved under the window and not yet committed."""
        return sum(amount for amount, metered in self._held.values() if metered)

    def receive(self, message: object) -> bool:
        """Apply ``message`` if it is a flow message; return whether it was one.

        Raises :class:`ProtocolViolation` for an acknowledgement of more than was sent.
        """
        if isinstance(message, Flow):
            self.window = message.window
            return True
        if isinstance(message, FlowAck):
            if message.consumed > self.sent:
                raise ProtocolViolation(
                    f"flow_ack of {message.consumed} bytes, but only {self.sent} were sent"
                )
            self.consumed = max(self.consumed, message.consumed)
            return True
        return False

    def credit(self) -> int | None:
        """How many more bytes may be sent now; ``None`` when flow control is off."""
        if not self.enabled:
            return None
        return max(0, self.window - (self.sent + self.reserved - self.consumed))

    def reserve(self, want: int, stream: object = None) -> int:
        """Take up to ``want`` bytes of credit for ``stream`` (all of ``want`` when off).

        One reservation is at most half the window: a reader that holds one while
        it waits for data (an idle stdout) leaves credit for the other (stderr).
        A stream holds one reservation at a time; 0 means none is free now.
        """
        if stream in self._held:
            raise ValueError(f"{stream!r} already holds a reservation")
        credit = self.credit()
        if credit is None:
            granted, metered = want, False
        else:
            granted, metered = min(want, credit, max(1, self.window // 2)), True
        if granted > 0:
            self._held[stream] = (granted, metered)
        return granted

    def commit(self, stream: object, sent: int) -> None:
        """``sent`` bytes of ``stream``'s reservation went out; the rest is free again."""
        amount, _ = self._held.pop(stream, (0, False))
        if not 0 <= sent <= amount:
            raise ValueError(f"cannot commit {sent} of {amount} reserved bytes")
        self.sent += sent
