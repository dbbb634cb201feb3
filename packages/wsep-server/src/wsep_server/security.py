"""The server's security options in one place: flags, and what they build.

``wsep-server`` adds these flags with :func:`add_security_arguments` and turns
them into middlewares, a start policy, observers and a (recording) execer with
:func:`build_security`. :func:`check_listen_safety` is the safe default: no
listening beyond loopback without an authenticator unless the operator says
``--insecure-no-auth``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .auth import (
    DEFAULT_TOKEN_ENV,
    Authenticator,
    BasicAuthenticator,
    ClientCertAuthenticator,
    JWTAuthenticator,
    StaticTokenAuthenticator,
    TokenLocation,
    TrustedProxyAuthenticator,
    auth_middleware,
    generate_token,
    load_token_file,
    origin_middleware,
    server_ssl_context,
)
from .auth.host import host_middleware
from .auth.peercred import PeerCredAuthenticator

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.typedefs import Middleware
    from wsep_protocol import Execer

    from .hooks import SessionObserver, StartPolicy

__all__ = [
    "Security",
    "SecurityOptions",
    "add_security_arguments",
    "build_authenticators",
    "build_security",
    "check_listen_safety",
    "is_loopback",
    "make_private",
    "security_options",
    "tls_context",
]


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get("WSEP_" + name, default)


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
    a("--token-file", default=_env("TOKEN_FILE"),
      help="file of '<name> sha256:<hex>' token hashes (python -m wsep_server.auth "
      "hash-token) [WSEP_TOKEN_FILE]")  # fmt: skip
    a("--token-env", default=DEFAULT_TOKEN_ENV if _env("TOKEN") else None, metavar="VAR",
      help="accept the token in this environment variable (used automatically when "
      "WSEP_TOKEN is set)")  # fmt: skip
    a("--token-locations", default=_env("TOKEN_LOCATIONS", "header,subprotocol,query"),
      help="where bearer tokens are accepted: header, subprotocol, query "
      "[WSEP_TOKEN_LOCATIONS]")  # fmt: skip
    a("--jwt-key", default=_env("JWT_KEY"), metavar="FILE",
      help="JWT secret (HMAC) or public key (PEM) file [WSEP_JWT_KEY]")  # fmt: skip
    a("--jwt-algorithms", default=_env("JWT_ALGORITHMS", "HS256"),
      help="comma-separated JWT algorithm allowlist [WSEP_JWT_ALGORITHMS]")  # fmt: skip
    a("--jwt-issuer", default=_env("JWT_ISSUER"), help="required JWT iss [WSEP_JWT_ISSUER]")
    a("--jwt-audience", default=_env("JWT_AUDIENCE"), help="required JWT aud [WSEP_JWT_AUDIENCE]")
    a("--basic-auth-file", default=_env("BASIC_AUTH_FILE"),
      help="'user:<bcrypt hash>' lines for HTTP Basic [WSEP_BASIC_AUTH_FILE]")  # fmt: skip
    a("--tls-client-ca", default=_env("TLS_CLIENT_CA"),
      help="CA file for client certificates (mTLS): the subject's CN is the identity "
      "[WSEP_TLS_CLIENT_CA]")  # fmt: skip
    a("--tls-require-client-cert", action="store_true",
      default=_env("TLS_REQUIRE_CLIENT_CERT", "") in ("1", "true", "yes"),
      help="refuse TLS connections without a client certificate "
      "[WSEP_TLS_REQUIRE_CLIENT_CERT]")  # fmt: skip
    a("--trusted-proxy", action="append", default=_list(_env("TRUSTED_PROXIES")),
      metavar="ADDR", help="reverse proxy address/network whose user header is believed "
      "(repeatable) [WSEP_TRUSTED_PROXIES]")  # fmt: skip
    a("--proxy-user-header", default=_env("PROXY_USER_HEADER", "X-Remote-User"),
      help="header a trusted proxy names the user in [WSEP_PROXY_USER_HEADER]")  # fmt: skip
    a("--allow-origin", action="append", default=_list(_env("ALLOWED_ORIGINS")),
      metavar="ORIGIN", help="browser origin allowed besides same-origin, or '*' "
      "(repeatable) [WSEP_ALLOWED_ORIGINS]")  # fmt: skip
    a("--policy", default=_env("POLICY"), metavar="FILE",
      help="per-identity start policy (TOML) [WSEP_POLICY]")  # fmt: skip
    a("--audit-log", default=_env("AUDIT_LOG"), metavar="FILE",
      help="append JSON audit lines here; reopened on SIGHUP [WSEP_AUDIT_LOG]")  # fmt: skip
    a("--record-dir", default=_env("RECORD_DIR"), metavar="DIR",
      help="where TTY sessions the policy records go (asciicast v2) [WSEP_RECORD_DIR]")  # fmt: skip
    a("--insecure-no-auth", action="store_true",
      default=_env("INSECURE_NO_AUTH", "") in ("1", "true", "yes"),
      help="serve without authentication: no token is generated on loopback, and "
      "listening beyond loopback is allowed [WSEP_INSECURE_NO_AUTH]")  # fmt: skip
    a("--allowed-host", action="append", default=_list(_env("ALLOWED_HOSTS")),
      metavar="NAME", help="a Host name the server may be reached by besides IP addresses, "
      "localhost and --host ('.example.org' for subdomains too, '*' for any: no DNS "
      "rebinding protection) (repeatable) [WSEP_ALLOWED_HOSTS]")  # fmt: skip
    a("--jwt-max-lifetime", type=float,
      default=float(_env("JWT_MAX_LIFETIME", "86400") or 0),
      help="refuse JWTs whose exp lies more than this many seconds ahead (or after iat); "
      "0 for no limit [WSEP_JWT_MAX_LIFETIME]")  # fmt: skip
    a("--proxy-secret-file", default=_env("PROXY_SECRET_FILE"), metavar="FILE",
      help="the trusted proxy must also send this shared secret in X-Wsep-Proxy-Secret "
      "[WSEP_PROXY_SECRET_FILE]")  # fmt: skip
    a("--max-pending-connections", type=int,
      default=int(_env("MAX_PENDING_CONNECTIONS", "1024") or 1024),
      help="connections not yet authenticated, at most, in all "
      "[WSEP_MAX_PENDING_CONNECTIONS]")  # fmt: skip
    a("--max-pending-per-peer", type=int,
      default=int(_env("MAX_PENDING_PER_PEER", "128") or 128),
      help="connections not yet authenticated, at most, from one address "
      "[WSEP_MAX_PENDING_PER_PEER]")  # fmt: skip
    a("--max-sessions-per-identity", type=int,
      default=int(_env("MAX_SESSIONS_PER_IDENTITY", "0") or 0),
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


@dataclass
class Security:
    """What the options built; hand the parts to ``create_app`` and the site."""

    authenticators: list[Authenticator] = field(default_factory=list)
    middlewares: list[Middleware] = field(default_factory=list)
    policy: StartPolicy | None = None
    observers: list[SessionObserver] = field(default_factory=list)
    execer: Execer | None = None
    on_startup: list[Any] = field(default_factory=list)
    on_cleanup: list[Any] = field(default_factory=list)
    #: The authenticators as the middleware holds them: a SIGHUP reload swaps them.
    swappable: list[Any] = field(default_factory=list)
    #: The token made for this run when nothing else was configured (print it once).
    generated_token: str | None = None

    @property
    def authenticated(self) -> bool:
        return bool(self.authenticators)

    def install(self, app: web.Application) -> None:
        """Register the start/cleanup hooks (audit log writer) on ``app``."""
        app.on_startup.extend(self.on_startup)
        app.on_cleanup.extend(self.on_cleanup)


def build_authenticators(opts: SecurityOptions) -> list[Authenticator]:
    """The authenticators the options ask for, in a fixed order (mTLS first)."""
    locations = tuple(TokenLocation(loc) for loc in opts.token_locations)
    auths: list[Authenticator] = []
    if opts.tls_client_ca:
        auths.append(ClientCertAuthenticator())
    if opts.trusted_proxies:
        secret = None
        if opts.proxy_secret_file:
            with open(opts.proxy_secret_file, encoding="utf-8") as f:
                secret = f.read().strip()
        auths.append(
            TrustedProxyAuthenticator(
                opts.trusted_proxies, header=opts.proxy_user_header, secret=secret
            )
        )
    elif opts.proxy_secret_file:
        raise ValueError("--proxy-secret-file needs --trusted-proxy")
    if opts.jwt_key:
        auths.append(
            JWTAuthenticator.from_key_file(
                opts.jwt_key,
                algorithms=opts.jwt_algorithms,
                issuer=opts.jwt_issuer,
                audience=opts.jwt_audience,
                max_lifetime=opts.jwt_max_lifetime,
                locations=locations,
            )
        )
    if opts.token_file or opts.token_env:
        hashed = load_token_file(opts.token_file) if opts.token_file else []
        plain: list[tuple[str, str]] = []
        if opts.token_env:
            token = os.environ.get(opts.token_env, "")
            if not token:
                raise ValueError(f"environment variable {opts.token_env} is not set")
            plain.append(("token", token))
        auths.append(StaticTokenAuthenticator(hashed, plain=plain, locations=locations))
    if opts.basic_auth_file:
        auths.append(BasicAuthenticator.from_file(opts.basic_auth_file))
    return auths


def build_security(
    opts: SecurityOptions,
    execer: Execer,
    *,
    host: str = "127.0.0.1",
    unix_socket: str | None = None,
) -> Security:
    """Authenticators, middlewares, policy, audit log and recording from ``opts``.

    Raises ``ValueError`` for unusable options, including serving beyond
    loopback without authentication (see :func:`check_listen_safety`).
    """
    from .audit import AuditLog
    from .policy import FilePolicy, default_resolver
    from .recording import RecordingExecer
    from .reload import reloadable

    sec = Security(authenticators=build_authenticators(opts))
    if not sec.authenticators and not opts.insecure_no_auth and (unix_socket or is_loopback(host)):
        _default_authentication(sec, opts, unix_socket)
    check_listen_safety(opts, host=host, unix_socket=unix_socket, authenticated=sec.authenticated)
    sec.middlewares.append(host_middleware(opts.allowed_hosts, bound=None if unix_socket else host))
    sec.middlewares.append(origin_middleware(opts.allowed_origins))
    if sec.authenticators:
        # What the middleware asks, a reload replaces (reload.py).
        sec.swappable = reloadable(sec.authenticators)
        sec.middlewares.append(auth_middleware(sec.swappable, exempt=_public))
    sec.execer = execer
    if opts.policy:
        if opts.record_dir:
            sec.execer = RecordingExecer(execer, opts.record_dir)
        policy = FilePolicy.from_file(opts.policy, resolver=default_resolver(sec.execer))
        if not opts.record_dir and _records(policy):
            raise ValueError("the policy records sessions: give --record-dir")
        sec.policy = policy
        sec.middlewares.append(policy.middleware())
    if opts.record_dir:
        make_private(opts.record_dir, 0o700)
    if opts.audit_log:
        make_private(opts.audit_log, 0o600)
        audit = AuditLog(opts.audit_log)
        sec.observers.append(audit)

        async def start_audit(app: web.Application) -> None:
            await audit.start()
            try:
                audit.install_sighup_handler()
            except (RuntimeError, ValueError, NotImplementedError):  # not the main thread
                pass

        async def stop_audit(app: web.Application) -> None:
            await audit.close()

        sec.on_startup.append(start_audit)
        sec.on_cleanup.append(stop_audit)
    return sec


def make_private(path: str, mode: int) -> None:
    """Give an existing audit log or record directory ``mode`` if others could read it.

    Raises ``ValueError`` (the server refuses to start) when that is not possible.
    """
    try:
        current = os.stat(path).st_mode
    except FileNotFoundError:
        return  # created with the right mode later
    if current & 0o077:
        try:
            os.chmod(path, mode)
        except OSError as exc:
            raise ValueError(
                f"{path} is readable by others (mode {current & 0o777:o}) and cannot be "
                f"made private: {exc.strerror}"
            ) from None


def _default_authentication(sec: Security, opts: SecurityOptions, unix_socket: str | None) -> None:
    """Nothing configured: local users by ``SO_PEERCRED`` on a Unix socket, else a new token.

    Any local user can reach a loopback port, so a server without authentication
    would run their commands as the server's user (as Jupyter, we make a token).
    """
    if unix_socket:
        sec.authenticators.append(PeerCredAuthenticator())
        return
    token = generate_token()
    locations = tuple(TokenLocation(loc) for loc in opts.token_locations)
    sec.authenticators.append(
        StaticTokenAuthenticator(plain=[("token", token)], locations=locations)
    )
    sec.generated_token = token


def _public(request: web.Request) -> bool:
    """Health checks need no credentials; everything else, WebSockets above all, does."""
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    return request.path == "/healthz" and request.method in ("GET", "HEAD") and not upgrade


def _records(policy: Any) -> bool:
    file = policy.policy
    sections = [file.default, file.anonymous, *file.identities.values()]
    return any(s is not None and (s.record or s.record_pipes) for s in sections)


def tls_context(
    opts: SecurityOptions, certfile: str | None, keyfile: str | None
) -> ssl.SSLContext | None:
    """The server's TLS context, verifying client certificates when ``--tls-client-ca`` is set."""
    if not certfile:
        if opts.tls_client_ca:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    from .tls_files import check_certificate_pair

    check_certificate_pair(certfile, keyfile)
    return server_ssl_context(
        certfile,
        keyfile,
        client_ca=opts.tls_client_ca,
        require_client_cert=opts.tls_require_client_cert,
    )
