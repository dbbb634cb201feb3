"""aiohttp middlewares that refuse a request before the WebSocket upgrade.

They run before the handler, so a refused request never reaches the point
where a process could be started: it gets a plain HTTP 401/403 with a short
reason, which is what a browser's or a CLI's failed handshake can show.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict

from ..hooks import IDENTITY_KEY
from .base import Authenticator, AuthRejected
from .tokens import TokenAuthenticator, TokenLocation, find_token

__all__ = [
    "auth_middleware",
    "origin_allowed",
    "origin_middleware",
    "refuse",
    "security_middlewares",
]

_log = logging.getLogger("wsep_server.auth")

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_PLACES = {
    TokenLocation.HEADER: "Authorization header",
    TokenLocation.SUBPROTOCOL: "subprotocol",
    TokenLocation.QUERY: "query parameter",
}


def _header_text(reason: str) -> str:
    """``reason`` as a safe header value: one line, ASCII, bounded."""
    text = " ".join(reason.split()).encode("ascii", "replace").decode("ascii")
    return text[:300]


def _reject(
    status: int, reason: str, challenges: Sequence[str] = (), *, invalid_token: bool = False
) -> web.Response:
    """The refusal, with its reason also in headers: a failed WebSocket handshake
    loses the body, so clients read ``X-Wsep-Error`` (or RFC 6750's
    ``error_description`` on a Bearer challenge) without asking again."""
    detail = _header_text(reason)
    headers: CIMultiDict[str] = CIMultiDict({"X-Wsep-Error": detail})
    for challenge in challenges:
        if invalid_token and challenge.split(" ", 1)[0].lower() == "bearer":
            quoted = detail.replace("\\", "\\\\").replace('"', '\\"')
            sep = ", " if challenge.strip().lower() != "bearer" else " "
            challenge = f'{challenge}{sep}error="invalid_token", error_description="{quoted}"'
        headers.add("WWW-Authenticate", challenge)
    return web.Response(status=status, text=reason + "\n", headers=headers)


def auth_middleware(
    authenticators: Sequence[Authenticator],
    *,
    allow_anonymous: bool = False,
    exempt: Callable[[web.Request], bool] | None = None,
) -> Middleware:
    """Authenticate every request (except ``exempt`` ones) before its handler runs.

    The authenticators are asked in order; the first identity lets the
    request through with ``request[IDENTITY_KEY]`` set. When none accepts,
    the first rejection is the answer (a credential was presented and is not
    good). Without any credential the request is anonymous when
    ``allow_anonymous`` is set, else refused with 401.
    """
    chain = tuple(authenticators)
    challenges = tuple(dict.fromkeys(a.scheme for a in chain if a.scheme))
    accepted_places: set[TokenLocation] = set()
    for a in chain:
        if isinstance(a, TokenAuthenticator):
            accepted_places.update(a.locations)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if exempt is not None and exempt(request):
            return await handler(request)
        rejected: AuthRejected | None = None
        for authenticator in chain:
            try:
                identity = await authenticator.authenticate(request)
            except AuthRejected as exc:
                rejected = rejected or exc
                continue
            if identity is not None:
                request[IDENTITY_KEY] = identity
                return await handler(request)
        if rejected is not None:
            response = refuse(request, rejected.status, rejected.reason, challenges, True)
            if rejected.retry_after is not None:
                response.headers["Retry-After"] = str(rejected.retry_after)
            return response
        try:
            located = find_token(request)
        except AuthRejected as exc:
            return refuse(request, exc.status, exc.reason, challenges, True)
        if located is not None:
            where = located[1]
            if where not in accepted_places:
                reason = f"token in {_PLACES[where]} not accepted"
            else:
                reason = "invalid token"
            return refuse(request, 401, reason, challenges, True)
        if "Authorization" in request.headers:
            return refuse(request, 401, "unsupported authorization scheme", challenges)
        if allow_anonymous:
            request[IDENTITY_KEY] = None
            return await handler(request)
        return refuse(request, 401, "authentication required", challenges)

    return authenticate


def refuse(
    request: web.Request,
    status: int,
    reason: str,
    challenges: Sequence[str] = (),
    invalid_token: bool = False,
) -> web.Response:
    """Log the refusal (scrubbed, one line) and answer it before any upgrade."""
    from ..client_address import client_address

    _log.warning("refused %s from %s: %s", request.path, client_address(request) or "?", reason)
    if status != 401:
        return _reject(status, reason)
    return _reject(status, reason, challenges, invalid_token=invalid_token)


def _split_origin(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def origin_allowed(
    origin: str | None, host: str | None, allowed: Collection[str], *, same_origin: bool = True
) -> bool:
    """Whether a request from ``origin`` to ``host`` (the Host header) may go on.

    No ``Origin`` (a non-browser client) is allowed. Same-origin compares host
    and port, with the port defaulted from the origin's scheme: the scheme
    itself is not compared, because a TLS-terminating proxy in front makes the
    server see ``http`` for an ``https`` page.
    ``allowed`` holds full origins (``https://app.example``) or ``*``.
    """
    if origin is None:
        return True
    if "*" in allowed:
        return True
    split = _split_origin(origin)
    if split is None:  # "null", garbage: only an exact allowlist entry lets it in
        return origin in allowed
    scheme, hostname, port = split
    for entry in allowed:
        if _split_origin(entry) == split:
            return True
    if same_origin and host:
        target = _split_origin(f"{scheme}://{host}")
        return target is not None and target[1:] == (hostname, port)
    return False


def origin_middleware(allowed: Collection[str] = (), *, same_origin: bool = True) -> Middleware:
    """403 for browser requests from an origin that is not allowed (CSWSH)."""
    allowed_set = frozenset(allowed)
    for entry in allowed_set:
        if entry != "*" and _split_origin(entry) is None:
            raise ValueError(f"not an origin: {entry!r} (expected scheme://host[:port])")

    @web.middleware
    async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, request.host, allowed_set, same_origin=same_origin):
            shown = (origin or "")[:80]
            return refuse(request, 403, f"origin not allowed: {shown}", ())
        return await handler(request)

    return check_origin


def security_middlewares(
    authenticators: Sequence[Authenticator],
    *,
    allowed_origins: Collection[str] = (),
    allow_anonymous: bool = False,
    allowed_hosts: Collection[str] | None = None,
) -> list[Middleware]:
    """The origin check, then authentication: pass them to ``create_app(middlewares=...)``.

    ``allowed_hosts`` (names besides addresses and ``localhost``) adds the ``Host``
    check against DNS rebinding in front (see :mod:`wsep_server.auth.host`).
    """
    from .host import host_middleware  # host.py builds on this module

    hosts = [] if allowed_hosts is None else [host_middleware(allowed_hosts)]
    return [
        *hosts,
        origin_middleware(allowed_origins),
        auth_middleware(authenticators, allow_anonymous=allow_anonymous),
    ]
