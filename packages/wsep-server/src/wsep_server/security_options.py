"""The server's security flags: parsed into :class:`SecurityOptions`, checked for safety.

``wsep-server`` adds these flags with :func:`add_security_arguments` and reads
them with :func:`security_options`; :mod:`wsep_server.security` turns the
options into middlewares, a start policy, observers and an execer.
:func:`check_listen_safety` is the safe default: no listening beyond loopback
without an authenticator unless the operator says ``--insecure-no-auth``.
"""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass

from .auth import DEFAULT_TOKEN_ENV, TokenLocation
from .settings import env_default, env_flag

__all__ = [
    "SecurityOptions",
    "add_security_arguments",
    "check_listen_safety",
    "is_loopback",
    "security_options",
]


def _list(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


@dataclass(frozen=True)
class SecurityOptions:
    """What the security flags say (all off by default)."""

    token_file: str | None = None
    token_env: str | None = None
    token_locations: tuple[str, ...] = ("header", "subprotocol", "query")
    jwt_key: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    basic_auth_file: str | None = None
    tls_client_ca: str | None = None
    tls_require_client_cert: bool = False
    trusted_proxies: tuple[str, ...] = ()
    proxy_user_header: str = "X-Remote-User"
    allowed_origins: tuple[str, ...] = ()
    policy: str | None = None
    audit_log: str | None = None
    record_dir: str | None = None
    insecure_no_auth: bool = False
    allowed_hosts: tuple[str, ...] = ()
    jwt_max_lifetime: float | None = None
    proxy_secret_file: str | None = None
    max_pending_connections: int = 1024
    max_pending_per_peer: int = 128
    max_sessions_per_identity: int | None = None


def add_security_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the authentication, origin, policy and audit flags (each also a WSEP_* variable)."""
    g = parser.add_argument_group("security")
    a = g.add_argument
    a("--token-file", default=env_default("TOKEN_FILE"),
      help="file of '<name> sha256:<hex>' token hashes (python -m wsep_server.auth "
      "hash-token) [WSEP_TOKEN_FILE]")  # fmt: skip
    a("--token-env", default=DEFAULT_TOKEN_ENV if env_default("TOKEN") else None, metavar="VAR",
      help="accept the token in this environment variable (used automatically when "
      "WSEP_TOKEN is set)")  # fmt: skip
    a("--token-locations", default=env_default("TOKEN_LOCATIONS", "header,subprotocol,query"),
      help="where bearer tokens are accepted: header, subprotocol, query "
      "[WSEP_TOKEN_LOCATIONS]")  # fmt: skip
    a("--jwt-key", default=env_default("JWT_KEY"), metavar="FILE",
      help="JWT secret (HMAC) or public key (PEM) file [WSEP_JWT_KEY]")  # fmt: skip
    a("--jwt-algorithms", default=env_default("JWT_ALGORITHMS", "HS256"),
      help="comma-separated JWT algorithm allowlist [WSEP_JWT_ALGORITHMS]")  # fmt: skip
    a("--jwt-issuer", default=env_default("JWT_ISSUER"), help="required JWT iss [WSEP_JWT_ISSUER]")
    a(
        "--jwt-audience",
        default=env_default("JWT_AUDIENCE"),
        help="required JWT aud [WSEP_JWT_AUDIENCE]",
    )
    a("--basic-auth-file", default=env_default("BASIC_AUTH_FILE"),
      help="'user:<bcrypt hash>' lines for HTTP Basic [WSEP_BASIC_AUTH_FILE]")  # fmt: skip
    a("--tls-client-ca", default=env_default("TLS_CLIENT_CA"),
      help="CA file for client certificates (mTLS): the subject's CN is the identity "
      "[WSEP_TLS_CLIENT_CA]")  # fmt: skip
    a("--tls-require-client-cert", action="store_true",
      default=env_flag("TLS_REQUIRE_CLIENT_CERT"),
      help="refuse TLS connections without a client certificate "
      "[WSEP_TLS_REQUIRE_CLIENT_CERT]")  # fmt: skip
    a("--trusted-proxy", action="append", default=_list(env_default("TRUSTED_PROXIES")),
      metavar="ADDR", help="reverse proxy address/network whose user header is believed "
      "(repeatable) [WSEP_TRUSTED_PROXIES]")  # fmt: skip
    a("--proxy-user-header", default=env_default("PROXY_USER_HEADER", "X-Remote-User"),
      help="header a trusted proxy names the user in [WSEP_PROXY_USER_HEADER]")  # fmt: skip
    a("--allow-origin", action="append", default=_list(env_default("ALLOWED_ORIGINS")),
      metavar="ORIGIN", help="browser origin allowed besides same-origin, or '*' "
      "(repeatable) [WSEP_ALLOWED_ORIGINS]")  # fmt: skip
    a("--policy", default=env_default("POLICY"), metavar="FILE",
      help="per-identity start policy (TOML) [WSEP_POLICY]")  # fmt: skip
    a("--audit-log", default=env_default("AUDIT_LOG"), metavar="FILE",
      help="append JSON audit lines here; reopened on SIGHUP [WSEP_AUDIT_LOG]")  # fmt: skip
    a("--record-dir", default=env_default("RECORD_DIR"), metavar="DIR",
      help="where TTY sessions the policy records go (asciicast v2) [WSEP_RECORD_DIR]")  # fmt: skip
    a("--insecure-no-auth", action="store_true",
      default=env_flag("INSECURE_NO_AUTH"),
      help="serve without authentication: no token is generated on loopback, and "
      "listening beyond loopback is allowed [WSEP_INSECURE_NO_AUTH]")  # fmt: skip
    a("--allowed-host", action="append", default=_list(env_default("ALLOWED_HOSTS")),
      metavar="NAME", help="a Host name the server may be reached by besides IP addresses, "
      "localhost and --host ('.example.org' for subdomains too, '*' for any: no DNS "
      "rebinding protection) (repeatable) [WSEP_ALLOWED_HOSTS]")  # fmt: skip
    a("--jwt-max-lifetime", type=float,
      default=float(env_default("JWT_MAX_LIFETIME", "86400") or 0),
      help="refuse JWTs whose exp lies more than this many seconds ahead (or after iat); "
      "0 for no limit [WSEP_JWT_MAX_LIFETIME]")  # fmt: skip
    a("--proxy-secret-file", default=env_default("PROXY_SECRET_FILE"), metavar="FILE",
      help="the trusted proxy must also send this shared secret in X-Wsep-Proxy-Secret "
      "[WSEP_PROXY_SECRET_FILE]")  # fmt: skip
    a("--max-pending-connections", type=int,
      default=int(env_default("MAX_PENDING_CONNECTIONS", "1024") or 1024),
      help="connections not yet authenticated, at most, in all "
      "[WSEP_MAX_PENDING_CONNECTIONS]")  # fmt: skip
    a("--max-pending-per-peer", type=int,
      default=int(env_default("MAX_PENDING_PER_PEER", "128") or 128),
      help="connections not yet authenticated, at most, from one address "
      "[WSEP_MAX_PENDING_PER_PEER]")  # fmt: skip
    a("--max-sessions-per-identity", type=int,
      default=int(env_default("MAX_SESSIONS_PER_IDENTITY", "0") or 0),
      help="reattachable sessions one identity may hold (0: a quarter of the server's "
      "256) [WSEP_MAX_SESSIONS_PER_IDENTITY]")  # fmt: skip


def security_options(ns: argparse.Namespace) -> SecurityOptions:
    """The options out of a namespace parsed with :func:`add_security_arguments`."""
    locations = tuple(_list(ns.token_locations))
    for loc in locations:
        if loc not in {t.value for t in TokenLocation}:
            raise ValueError(f"--token-locations: unknown place {loc!r}")
    return SecurityOptions(
        token_file=ns.token_file or None,
        token_env=ns.token_env or None,
        token_locations=locations,
        jwt_key=ns.jwt_key or None,
        jwt_algorithms=tuple(_list(ns.jwt_algorithms)),
        jwt_issuer=ns.jwt_issuer or None,
        jwt_audience=ns.jwt_audience or None,
        basic_auth_file=ns.basic_auth_file or None,
        tls_client_ca=ns.tls_client_ca or None,
        tls_require_client_cert=bool(ns.tls_require_client_cert),
        trusted_proxies=tuple(p for item in ns.trusted_proxy for p in _list(item)),
        proxy_user_header=ns.proxy_user_header,
        allowed_origins=tuple(o for item in ns.allow_origin for o in _list(item)),
        policy=ns.policy or None,
        audit_log=ns.audit_log or None,
        record_dir=ns.record_dir or None,
        insecure_no_auth=bool(ns.insecure_no_auth),
        allowed_hosts=tuple(h for item in ns.allowed_host for h in _list(item)),
        jwt_max_lifetime=ns.jwt_max_lifetime or None,
        proxy_secret_file=ns.proxy_secret_file or None,
        max_pending_connections=_at_least_one(
            "--max-pending-connections", ns.max_pending_connections
        ),
        max_pending_per_peer=_at_least_one("--max-pending-per-peer", ns.max_pending_per_peer),
        max_sessions_per_identity=ns.max_sessions_per_identity or None,
    )


def _at_least_one(flag: str, value: int) -> int:
    if value < 1:
        raise ValueError(f"{flag} must be at least 1")
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (names other than localhost: no)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen_safety(
    opts: SecurityOptions, *, host: str, unix_socket: str | None, authenticated: bool
) -> None:
    """Refuse to serve beyond loopback without authentication unless told to."""
    if unix_socket or authenticated or opts.insecure_no_auth or is_loopback(host):
        return
    raise ValueError(
        f"refusing to listen on {host} without authentication: anyone who can reach it could "
        "run commands. Set WSEP_TOKEN (or --token-file/--jwt-key/--basic-auth-file/"
        "--tls-client-ca/--trusted-proxy), or pass --insecure-no-auth"
    )
