"""What the security options build: authenticators, middlewares, policy, observers.

:func:`build_security` turns :class:`~wsep_server.security_options.SecurityOptions`
(the flags, parsed in :mod:`wsep_server.security_options`) into middlewares, a
start policy, observers and a (recording) execer; :func:`tls_context` makes the
server's TLS context. The option names are re-exported here for existing imports.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .auth import (
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
from .security_options import (
    SecurityOptions,
    add_security_arguments,
    check_listen_safety,
    is_loopback,
    security_options,
)

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.typedefs import Middleware
    from wsep_protocol import Execer

    from .hooks import ConnectionObserver, StartPolicy

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


@dataclass
class Security:
    """What the options built; hand the parts to ``create_app`` and the site."""

    authenticators: list[Authenticator] = field(default_factory=list)
    middlewares: list[Middleware] = field(default_factory=list)
    policy: StartPolicy | None = None
    observers: list[ConnectionObserver] = field(default_factory=list)
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
        if not opts.record_dir and policy.policy.records:
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
