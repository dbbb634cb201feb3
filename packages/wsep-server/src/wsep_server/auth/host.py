"""The ``Host`` check that stops DNS rebinding (as Jupyter and Vite do).

A web page on ``attacker.example`` whose name is re-pointed at 127.0.0.1 is,
for the browser, same-origin with the server: the ``Origin`` check passes.
What gives it away is ``Host: attacker.example``. A request is served only
when its ``Host`` names the server the way it is meant to be reached:

- an IP address (an address is never re-pointed; rebinding needs a name),
- ``localhost`` and ``*.localhost`` (browsers resolve these to loopback themselves),
- the name the server was told to listen on (``--host``),
- a name given with ``--allowed-host`` (``.example.org`` allows its subdomains too).

``*`` among the allowed hosts turns the check off. Requests without ``Host``
(HTTP/1.0 tools) pass: every browser sends one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .middleware import refuse

__all__ = ["host_allowed", "host_middleware", "host_name"]

_LOCAL_NAMES = ("localhost",)


def host_name(host: str) -> str:
    """The name or address in a ``Host`` value, without port, brackets or trailing dot."""
    host = host.strip()
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else host.lower()
    if host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    return host.rstrip(".").lower()


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


def host_allowed(host: str | None, allowed: Collection[str]) -> bool:
    """Whether a request whose ``Host`` header is ``host`` may be served."""
    if host is None or "*" in allowed:
        return True
    name = host_name(host)
    if not name:
        return False
    if _is_address(name):
        return True
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    for entry in allowed:
        entry = entry.rstrip(".").lower()
        if entry.startswith("."):
            if name == entry[1:] or name.endswith(entry):
                return True
        elif name == entry:
            return True
    return False


def host_middleware(allowed: Collection[str] = (), *, bound: str | None = None) -> Middleware:
    """403 before anything else for a ``Host`` the server is not meant to be reached by.

    ``bound`` is the name the server listens on (``--host``); it is allowed too.
    """
    names = {entry if entry == "*" else host_name(entry) for entry in allowed}
    if bound:
        names.add(host_name(bound))
    frozen = frozenset(names)

    @web.middleware
    async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host")
        if not host_allowed(host, frozen):
            shown = host_name(host or "")[:80]
            return refuse(
                request,
                403,
                f"host not allowed: {shown} (DNS rebinding protection; "
                f"start the server with --allowed-host {shown} if this name is yours)",
            )
        return await handler(request)

    return check_host
