"""Protocol versions, their WebSocket subprotocol names, and their limits.

A peer that offers no subprotocol speaks version 1, the Go original's wire
format, and never receives a message larger than 64,000 bytes. Version 2 is
selected when the client offers the ``wsep.v2`` subprotocol; it only adds
(larger messages, new message types, new fields), so everything a v1 peer
would send is still valid v2.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "MAX_HEADER_SIZE",
    "SUBPROTOCOL_V2",
    "V1_MAX_MESSAGE_SIZE",
    "V2_MAX_MESSAGE_SIZE",
    "Limits",
    "ProtocolVersion",
    "limits_for",
    "select_version",
    "subprotocols_for",
]

#: The Go peers' read limit: a 64,001-byte message gets close 1009.
V1_MAX_MESSAGE_SIZE = 64_000
#: 1 MiB of data plus room for the JSON header.
V2_MAX_MESSAGE_SIZE = 1_048_576 + 1_024
#: No header (the JSON before the first newline) may be longer than this.
MAX_HEADER_SIZE = 65_536

SUBPROTOCOL_V2 = "wsep.v2"


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

_SUBPROTOCOLS = {SUBPROTOCOL_V2: ProtocolVersion.V2}


def limits_for(version: ProtocolVersion) -> Limits:
    return _LIMITS[version]


def select_version(offered: Iterable[str]) -> tuple[ProtocolVersion, str | None]:
    """Pick the newest version the client offered; (V1, None) when none is known.

    Returns the version and the subprotocol string to answer with.
    """
    best: tuple[ProtocolVersion, str | None] = (ProtocolVersion.V1, None)
    for name in offered:
        version = _SUBPROTOCOLS.get(name.strip())
        if version is not None and version > best[0]:
            best = (version, name.strip())
    return best


def subprotocols_for(version: ProtocolVersion) -> tuple[str, ...]:
    """The subprotocols a client offers to ask for ``version`` (none for v1)."""
    return tuple(name for name, v in _SUBPROTOCOLS.items() if v <= version)
