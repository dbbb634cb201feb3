"""The extensions this implementation speaks, and the registry connections use by default.

:func:`encode` and :func:`decode` are the codec with the default registry:
built-in messages and those of :data:`DEFAULT_EXTENSIONS`.
"""

from __future__ import annotations

from .flow import FLOW
from .messages import AnyMessage, Buffer
from .registry import Extension, Registry
from .sessions import SESSIONS
from .versions import MAX_HEADER_SIZE

__all__ = ["DEFAULT_EXTENSIONS", "DEFAULT_REGISTRY", "decode", "encode"]

#: Reattachable sessions (v2) and output flow control (v2).
DEFAULT_EXTENSIONS: tuple[Extension, ...] = (SESSIONS, FLOW)

#: What a :class:`~wsep_protocol.Connection` knows unless it is given a registry.
DEFAULT_REGISTRY = Registry(DEFAULT_EXTENSIONS)


def encode(message: AnyMessage) -> bytes:
    """The wire bytes of ``message`` (built in, or of a default extension).

    Encoding is byte-exact with the Go original: compact JSON, fields in Go's
    struct order, and every server message ending with ``\\n``.
    """
    return DEFAULT_REGISTRY.encode(message)


def decode(
    data: Buffer | str,
    *,
    max_size: int | None = None,
    max_header_size: int = MAX_HEADER_SIZE,
) -> AnyMessage:
    """Decode one WebSocket message (binary, or text holding the same bytes).

    Raises only :class:`~wsep_protocol.MalformedMessage` or
    :class:`~wsep_protocol.MessageTooBig`; a type it does not know decodes to
    :class:`~wsep_protocol.UnknownMessage`.
    """
    return DEFAULT_REGISTRY.decode(data, max_size=max_size, max_header_size=max_header_size)
