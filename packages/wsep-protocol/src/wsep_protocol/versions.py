"""Protocol versions, their WebSocket subprotocol names, and their limits.

A peer that offers no subprotocol speaks version 1, the Go original's wire
format, and never receives a message larger than 64,000 bytes. Version 2 is
selected when the client offers the ``wsep.v2`` subprotocol; it only adds
(larger messages, new message types, new fields), so everything a v1 peer
would send is still valid v2.

A client that offers any subprotocol must get one back: browsers abort a
handshake that offered some and got none. So v1 has a name too
(``wsep.v1``), and :func:`negotiate` refuses an offer it can select nothing
from instead of answering without a subprotocol (PROTOCOL.md, section 7).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import ProtocolViolation

__all__ = [
    "MAX_HEADER_SIZE",
    "SUBPROTOCOL_PREFIX",
    "SUBPROTOCOL_V1",
    "SUBPROTOCOL_V2",
    "TOKEN_SUBPROTOCOL_PREFIX",
    "V1_MAX_MESSAGE_SIZE",
    "V2_MAX_MESSAGE_SIZE",
    "Limits",
    "ProtocolVersion",
    "SubprotocolRefused",
    "client_offer",
    "limits_for",
    "negotiate",
    "offered_subprotocols",
    "select_version",
    "selected_version",
    "subprotocols_for",
]

#: The Go peers' read limit: a 64,001-byte message gets close 1009.
V1_MAX_MESSAGE_SIZE = 64_000
#: 1 MiB of data plus room for the JSON header.
V2_MAX_MESSAGE_SIZE = 1_048_576 + 1_024
#: No header (the JSON before the first newline) may be longer than this.
MAX_HEADER_SIZE = 65_536

#: Every subprotocol entry of wsep's (versions and tokens) starts with this.
SUBPROTOCOL_PREFIX = "wsep."
SUBPROTOCOL_V1 = "wsep.v1"
SUBPROTOCOL_V2 = "wsep.v2"
#: A subprotocol entry that carries a bearer token (browsers): never selected, never echoed.
TOKEN_SUBPROTOCOL_PREFIX = "wsep.token."


class SubprotocolRefused(ProtocolViolation):
    """The client's subprotocol offer names no version this server speaks (HTTP 400)."""


class ProtocolVersion(enum.IntEnum):
    V1 = 1
    V2 = 2


@dataclass(frozen=True, slots=True)
class Limits:
    """What one version allows per message."""

    max_message_size: int
    max_header_size: int = MAX_HEADER_SIZE


_LIMITS = {
    ProtocolVersion.V1: Limits(V1_MAX_MESSAGE_SIZE),
    ProtocolVersion.V2: Limits(V2_MAX_MESSAGE_SIZE),
}

_SUBPROTOCOLS = {SUBPROTOCOL_V1: ProtocolVersion.V1, SUBPROTOCOL_V2: ProtocolVersion.V2}
_NAMES = {version: name for name, version in _SUBPROTOCOLS.items()}


def limits_for(version: ProtocolVersion) -> Limits:
    return _LIMITS[version]


def select_version(offered: Iterable[str]) -> tuple[ProtocolVersion, str | None]:
    """Deprecated: :func:`negotiate` against every version, with (V1, None) instead of a refusal.

    Returns the version and the subprotocol string to answer with.
    """
    try:
        return negotiate(offered, ProtocolVersion)
    except SubprotocolRefused:
        return ProtocolVersion.V1, None


def offered_subprotocols(headers: Iterable[str]) -> list[str]:
    """The entries of ``Sec-WebSocket-Protocol`` header values, in order.

    A client may send the header more than once, each with a comma-separated
    list; blank entries are dropped.
    """
    return [entry.strip() for header in headers for entry in header.split(",") if entry.strip()]


def negotiate(
    offered: Iterable[str], supported: Iterable[ProtocolVersion]
) -> tuple[ProtocolVersion, str | None]:
    """The server's answer to a ``Sec-WebSocket-Protocol`` offer.

    No offer at all: v1 with no subprotocol (the Go clients), if the server
    speaks v1. Otherwise the newest offered version the server speaks, named in
    the answer. Anything else raises :class:`SubprotocolRefused` (an HTTP 400
    before the upgrade), because answering a browser's offer with no
    subprotocol makes it abort the connection without saying why.
    """
    speaks = frozenset(supported)
    entries = [e.strip() for e in offered if e.strip()]
    names = ", ".join(_NAMES[v] for v in sorted(speaks))
    if not entries:
        if ProtocolVersion.V1 in speaks:
            return ProtocolVersion.V1, None
        raise SubprotocolRefused(f"this server speaks only {names}: offer it as a subprotocol")
    best: tuple[ProtocolVersion, str] | None = None
    for name in entries:
        version = _SUBPROTOCOLS.get(name)
        if version is not None and version in speaks and (best is None or version > best[0]):
            best = (version, name)
    if best is not None:
        return best
    versions = [e for e in entries if e in _SUBPROTOCOLS]
    if versions:
        raise SubprotocolRefused(
            f"this server does not speak {', '.join(dict.fromkeys(versions))}; offer {names}"
        )
    if all(e.startswith(TOKEN_SUBPROTOCOL_PREFIX) for e in entries):
        raise SubprotocolRefused(
            f"a token subprotocol entry needs a version next to it: offer {names}"
        )
    raise SubprotocolRefused(f"none of the offered subprotocols is wsep's: offer {names}")


def subprotocols_for(version: ProtocolVersion) -> tuple[str, ...]:
    """The subprotocols a client offers to ask for ``version``: it and every older one.

    Newest first; a server picks the newest it speaks, and a server that ignores
    subprotocols (the Go original) answers none, which means v1.
    """
    return tuple(name for name, v in reversed(_SUBPROTOCOLS.items()) if v <= version)


def client_offer(version: ProtocolVersion) -> tuple[str, ...]:
    """What a client offers to ask for ``version``: nothing for v1, exactly as the Go client."""
    return subprotocols_for(version) if version > ProtocolVersion.V1 else ()


def selected_version(subprotocol: str | None) -> ProtocolVersion:
    """The version a server's handshake answer selected, from the subprotocol it named.

    No subprotocol (a Go server, or an offer of nothing) is v1. A client only
    accepts a name it offered, so every other answer is a name of a version.
    """
    if not subprotocol:
        return ProtocolVersion.V1
    return _SUBPROTOCOLS.get(subprotocol.strip(), ProtocolVersion.V1)
