"""What every authenticator is: request in, identity (or nothing, or a rejection) out."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..hooks import Identity

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "AuthRejected",
    "Authenticator",
    "FrozenAttributes",
    "Network",
    "address_in",
    "make_identity",
    "peer_address",
]


class AuthRejected(Exception):
    """Credentials were presented but are not good: answer ``status`` with ``reason``.

    ``reason`` goes to the client verbatim, so it must be short and must never
    contain the credential itself.
    """

    def __init__(self, reason: str, *, status: int = 401, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        #: Seconds a 429 asks the client to wait (sent as ``Retry-After``).
        self.retry_after = retry_after


@runtime_checkable
class Authenticator(Protocol):
    """Turns a request into an :class:`Identity`.

    Returns ``None`` when the request carries no credential of this kind (the
    next authenticator gets a try) and raises :class:`AuthRejected` when it
    carries one that is not valid. ``scheme`` is what a 401 advertises in
    ``WWW-Authenticate`` (empty: nothing to advertise).
    """

    scheme: str

    async def authenticate(self, request: web.Request) -> Identity | None: ...


class FrozenAttributes(Mapping[str, str]):
    """An immutable, hashable mapping, so identities can be set members and dict keys."""

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, str] = dict(items or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._items.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenAttributes({self._items!r})"


def make_identity(name: str, **attributes: str) -> Identity:
    """An :class:`Identity` whose attributes are hashable (``auth`` says how it was proven)."""
    return Identity(name=name, attributes=FrozenAttributes(attributes))


def peer_address(request: web.Request) -> str:
    """The TCP peer's address, never a forwarded header: what the socket says."""
    transport = request.transport
    if transport is None:
        return ""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, (tuple, list)) and peer:
        return str(peer[0])
    if isinstance(peer, str):  # a Unix socket path
        return peer
    return ""


#: What a list of trusted proxies or clients holds.
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_in(address: str, networks: Iterable[Network]) -> bool:
    """Whether ``address`` (IPv4-mapped IPv6 counted as IPv4) is in one of ``networks``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)
