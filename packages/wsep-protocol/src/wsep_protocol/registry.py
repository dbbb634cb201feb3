"""Which message types a connection knows: the built-in ones and its extensions'.

An :class:`Extension` lists message classes (subclasses of
:class:`~wsep_protocol.ExtensionMessage`, each with its wire ``TYPE``, its
:class:`~wsep_protocol.Phase` and its own ``encode``/``parse``) by the side
that sends them. A :class:`Registry` is built from extensions once, checked
for clashes, and handed to a :class:`~wsep_protocol.Connection`; nothing is
registered by importing a module. The default registry (with the session and
flow-control extensions this implementation speaks) is
:data:`wsep_protocol.DEFAULT_REGISTRY`::

    registry = DEFAULT_REGISTRY.extended(Extension("mine", client=(Ping,)))
    conn = Connection(Role.SERVER, ProtocolVersion.V2, registry=registry)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from . import codec
from .messages import (
    CLIENT_MESSAGES,
    SERVER_MESSAGES,
    AnyMessage,
    Buffer,
    ExtensionMessage,
    Phase,
    StartingMessage,
)
from .versions import MAX_HEADER_SIZE

__all__ = ["Extension", "Registry"]


@dataclass(frozen=True)
class Extension:
    """A named set of extension message classes, by the side that sends them."""

    name: str
    client: tuple[type[ExtensionMessage], ...] = ()
    server: tuple[type[ExtensionMessage], ...] = ()


class Registry:
    """The message classes a connection may send and receive, fixed at construction.

    Raises ``TypeError`` for a class that is not an extension message (or one
    sent in place of ``start`` that is not a :class:`StartingMessage`) and
    ``ValueError`` for a wire type that is taken (built in, or by another
    class).
    """

    def __init__(self, extensions: Iterable[Extension] = ()) -> None:
        self.extensions: tuple[Extension, ...] = tuple(extensions)
        by_type: dict[str, type[ExtensionMessage]] = {}
        client: list[type[ExtensionMessage]] = []
        server: list[type[ExtensionMessage]] = []
        for extension in self.extensions:
            for side, classes in ((client, extension.client), (server, extension.server)):
                for cls in classes:
                    _check_class(extension, cls)
                    if cls.TYPE in codec.PARSERS or cls.TYPE in by_type:
                        raise ValueError(
                            f"extension {extension.name!r}: wire type {cls.TYPE!r} is taken"
                        )
                    by_type[cls.TYPE] = cls
                    side.append(cls)
        #: Extension message classes by wire type.
        self.types: Mapping[str, type[ExtensionMessage]] = MappingProxyType(by_type)
        #: Every class a client may send (built-in first), for ``isinstance``.
        self.client_messages: tuple[type, ...] = CLIENT_MESSAGES + tuple(client)
        #: Every class a server may send (built-in first), for ``isinstance``.
        self.server_messages: tuple[type, ...] = SERVER_MESSAGES + tuple(server)
        self._classes = frozenset(by_type.values())

    def __repr__(self) -> str:
        return f"<Registry {[e.name for e in self.extensions]}>"

    def extended(self, *extensions: Extension) -> Registry:
        """A new registry with these extensions' messages as well."""
        return Registry(self.extensions + extensions)

    def encode(self, message: AnyMessage) -> bytes:
        """The wire bytes of ``message``; ``TypeError`` for a class not registered here."""
        if isinstance(message, ExtensionMessage):
            if type(message) not in self._classes:
                raise TypeError(f"{type(message).__name__} is not a registered extension message")
            return message.encode()
        return codec.encode(message)

    def decode(
        self,
        data: Buffer | str,
        *,
        max_size: int | None = None,
        max_header_size: int = MAX_HEADER_SIZE,
    ) -> AnyMessage:
        """Decode one WebSocket message; types not registered here decode as unknown.

        Raises only :class:`~wsep_protocol.MalformedMessage` or
        :class:`~wsep_protocol.MessageTooBig`.
        """
        return codec.decode(
            data, max_size=max_size, max_header_size=max_header_size, extensions=self.types
        )


def _check_class(extension: Extension, cls: object) -> None:
    if not (isinstance(cls, type) and issubclass(cls, ExtensionMessage)):
        raise TypeError(f"extension {extension.name!r}: {cls!r} is not an ExtensionMessage class")
    try:
        wire_type = cls.TYPE
    except AttributeError:
        wire_type = None
    if not isinstance(wire_type, str):
        raise TypeError(f"extension {extension.name!r}: {cls.__name__} has no wire TYPE")
    if not isinstance(cls.PHASE, Phase):
        raise TypeError(f"extension {extension.name!r}: {cls.__name__}.PHASE is not a Phase")
    if (cls.PHASE is Phase.START) != issubclass(cls, StartingMessage):
        raise TypeError(
            f"extension {extension.name!r}: {cls.__name__}: a message takes the place of "
            "start (Phase.START) exactly when it is a StartingMessage"
        )
