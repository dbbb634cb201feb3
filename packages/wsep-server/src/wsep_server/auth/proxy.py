"""A reverse proxy that authenticated the user says who it is, in a header.

The header is honoured only when the connection comes from one of the
configured proxies; from anyone else it is an impersonation attempt and is
refused (403), not ignored, so a misconfigured proxy chain shows up at once.

A proxy address on the same host (``127.0.0.1``) is trusted for every local
process: any local user can then send ``X-Remote-User: admin``. Two ways to
tell the real proxy from them:

- a Unix socket: the server listens on ``--unix-socket`` and the proxy is
  named ``unix:<user>`` (or ``unix:<uid>``); the kernel's ``SO_PEERCRED``
  says which user connected, so only the proxy's account is believed;
- a shared secret (``--proxy-secret-file``) the proxy adds to every request
  in ``X-Wsep-Proxy-Secret``, compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import pwd
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..hooks import Identity
from .base import AuthRejected, Network, address_in, make_identity, peer_address
from .peercred import peer_credentials

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["PROXY_SECRET_HEADER", "TrustedProxyAuthenticator"]

#: Where a trusted proxy puts the shared secret.
PROXY_SECRET_HEADER = "X-Wsep-Proxy-Secret"


def _uid(user: str) -> int:
    if user.isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ValueError(f"trusted proxy: no such user {user!r}") from None


class TrustedProxyAuthenticator:
    """Identity from ``header`` (default ``X-Remote-User``), only from ``proxies``."""

    scheme = ""

    def __init__(
        self,
        proxies: Iterable[str],
        *,
        header: str = "X-Remote-User",
        secret: str | None = None,
    ) -> None:
        """``proxies``: addresses or networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``) and
        Unix socket peers (``unix:www-data``, ``unix:33``); ``secret``: what the proxy
        must send in ``X-Wsep-Proxy-Secret`` as well."""
        networks: list[Network] = []
        uids: set[int] = set()
        for entry in (p.strip() for p in proxies):
            if entry.startswith("unix:"):
                uids.add(_uid(entry[len("unix:") :]))
            else:
                networks.append(ipaddress.ip_network(entry, strict=False))
        if not networks and not uids:
            raise ValueError("trusted proxy authentication needs at least one proxy address")
        if secret is not None and len(secret) < 16:
            raise ValueError("the proxy secret is too short (need 16+ characters)")
        self.networks: tuple[Network, ...] = tuple(networks)
        self.unix_uids = frozenset(uids)
        self.header = header
        self._secret = None if secret is None else secret.encode("utf-8")

    def trusted(self, address: str) -> bool:
        return address_in(address, self.networks)

    def _from_proxy(self, request: web.Request) -> bool:
        creds = peer_credentials(request)
        if creds is not None:
            return creds[1] in self.unix_uids
        return self.trusted(peer_address(request))

    def _secret_given(self, request: web.Request) -> bool:
        if self._secret is None:
            return True
        given = request.headers.get(PROXY_SECRET_HEADER, "").encode("utf-8")
        return hmac.compare_digest(given, self._secret)

    async def authenticate(self, request: web.Request) -> Identity | None:
        values = request.headers.getall(self.header, ())
        if not values:
            return None
        if not self._from_proxy(request) or not self._secret_given(request):
            raise AuthRejected(f"{self.header} accepted only from trusted proxies", status=403)
        if len(values) != 1 or not values[0].strip():
            raise AuthRejected(f"{self.header} must be given exactly once", status=403)
        return make_identity(values[0].strip(), auth="proxy")
