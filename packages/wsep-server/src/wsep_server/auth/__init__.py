"""Authentication and origin checks for the wsep server, as aiohttp middlewares.

Build the authenticators you want, then pass
``security_middlewares(authenticators, allowed_origins=...)`` to the app::

    auths = [StaticTokenAuthenticator.from_env(), JWTAuthenticator(key, algorithms=["HS256"])]
    app = create_app(middlewares=security_middlewares(auths))

Each authenticator answers with an :class:`~wsep_server.hooks.Identity`,
``None`` (no credential of its kind) or :class:`AuthRejected`.
"""

from __future__ import annotations

from .base import Authenticator, AuthRejected, FrozenAttributes, make_identity, peer_address
from .basic import BasicAuthenticator, hash_password, load_password_file
from .host import host_allowed, host_middleware
from .jwt_auth import JWTAuthenticator
from .middleware import auth_middleware, origin_allowed, origin_middleware, security_middlewares
from .mtls import ClientCertAuthenticator, format_name, server_ssl_context
from .peercred import PeerCredAuthenticator
from .penalty import HashingPool, PeerPenalties
from .proxy import PROXY_SECRET_HEADER, TrustedProxyAuthenticator
from .scrub import (
    REDACTED,
    ScrubbingAccessLogger,
    ScrubFilter,
    escape_controls,
    install_scrub_filter,
    scrub,
)
from .tokens import (
    DEFAULT_TOKEN_ENV,
    SUBPROTOCOL_TOKEN_PREFIX,
    StaticTokenAuthenticator,
    TokenAuthenticator,
    TokenLocation,
    find_token,
    generate_token,
    hash_token,
    load_token_file,
)

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "PROXY_SECRET_HEADER",
    "REDACTED",
    "SUBPROTOCOL_TOKEN_PREFIX",
    "AuthRejected",
    "Authenticator",
    "BasicAuthenticator",
    "ClientCertAuthenticator",
    "FrozenAttributes",
    "HashingPool",
    "JWTAuthenticator",
    "PeerCredAuthenticator",
    "PeerPenalties",
    "ScrubFilter",
    "ScrubbingAccessLogger",
    "StaticTokenAuthenticator",
    "TokenAuthenticator",
    "TokenLocation",
    "TrustedProxyAuthenticator",
    "auth_middleware",
    "escape_controls",
    "find_token",
    "format_name",
    "generate_token",
    "hash_password",
    "hash_token",
    "host_allowed",
    "host_middleware",
    "install_scrub_filter",
    "load_password_file",
    "load_token_file",
    "make_identity",
    "origin_allowed",
    "origin_middleware",
    "peer_address",
    "scrub",
    "security_middlewares",
    "server_ssl_context",
]
