"""The client's address behind a reverse proxy, believed only from that proxy.

Behind nginx every TCP peer is the proxy. With ``--forwarded-from`` the
proxy's header gives the client's address instead: ``X-Forwarded-For``'s
last entry (the address the trusted proxy itself saw and appended; earlier
entries are whatever the client claimed) or ``X-Real-IP``. From any other
peer the header is ignored, so nobody can choose the address their requests
are logged under. Logs, the audit log and per-client limits read
:func:`client_address`.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .auth.base import address_in, peer_address

__all__ = [
    "CLIENT_ADDRESS_KEY",
    "address_in",
    "client_address",
    "forwarded_address",
    "forwarded_address_middleware",
]

_log = logging.getLogger("wsep_server.client_address")

_RequestKey: Any = getattr(web, "RequestKey", None)
#: ``request[CLIENT_ADDRESS_KEY]``: the address a trusted proxy named (absent otherwise).
CLIENT_ADDRESS_KEY: Final[Any] = (
    _RequestKey("wsep_client_address", str) if _RequestKey else "wsep.client_address"
)


def forwarded_address(value: str, header: str) -> str | None:
    """The client address in a proxy header's ``value``, or None if there is none."""
    if header.lower() == "x-forwarded-for":
        value = value.rsplit(",", 1)[-1]
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_address(request: web.BaseRequest) -> str:
    """Who is on the other end: the trusted proxy's word, else the socket's peer."""
    forwarded = request.get(CLIENT_ADDRESS_KEY)
    if isinstance(forwarded, str) and forwarded:
        return forwarded
    return peer_address(request)  # type: ignore[arg-type]


def forwarded_address_middleware(
    proxies: Iterable[str], header: str = "X-Forwarded-For"
) -> Middleware:
    """Sets ``request[CLIENT_ADDRESS_KEY]`` from ``header`` on requests from ``proxies``."""
    networks = tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies)

    @web.middleware
    async def forwarded_for(request: web.Request, handler: Handler) -> web.StreamResponse:
        values = request.headers.getall(header, ())
        if values and address_in(peer_address(request), networks):
            found = forwarded_address(values[-1], header)
            if found is not None:
                request[CLIENT_ADDRESS_KEY] = found
            else:
                _log.warning("unusable %s from proxy %s ignored", header, peer_address(request))
        return await handler(request)

    return forwarded_for
