"""A reverse proxy that authenticated the user says who it is, in a header.

The header is honoured only when the TCP peer is one of the configured proxy
addresses; from anyone else it is an impersonation attempt and is refused
(403), not ignored, so a misconfigured proxy chain shows up at once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..hooks import Identity
from .base import AuthRejected, make_identity, peer_address

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["TrustedProxyAuthenticator"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxyAuthenticator:
    """Identity from ``header`` (default ``X-Remote-User``), only from ``proxies``."""

    scheme = ""

    def __init__(self, proxies: Iterable[str], *, header: str = "X-Remote-User") -> None:
        """``proxies``: addresses or networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``)."""
        self.networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in proxies
        )
        if not self.networks:
            raise ValueError("trusted proxy authentication needs at least one proxy address")
        self.header = header

    def trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks)

    async def authenticate(self, request: web.Request) -> Identity | None:
        values = request.headers.getall(self.header, ())
        if not values:
            return None
        if not self.trusted(peer_address(request)):
            raise AuthRejected(f"{self.header} accepted only from trusted proxies", status=403)
        if len(values) != 1 or not values[0].strip():
            raise AuthRejected(f"{self.header} must be given exactly once", status=403)
        return make_identity(values[0].strip(), auth="proxy")
