"""``wsep-server --check-config``: every problem of a configuration, one line each.

Runs the same loaders the server uses (so it cannot disagree with a start),
each on its own, so one broken file does not hide the next.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path

from .cli import Options

__all__ = ["check_config"]


def _writable_file(path: str, what: str) -> None:
    target = Path(path)
    if target.exists():
        if target.is_dir() or not os.access(target, os.W_OK):
            raise ValueError(f"{what} {path}: not a writable file")
        return
    parent = target.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path}: directory {parent} missing or not writable")


def _directory(path: str, what: str) -> None:
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{what} {path}: not a directory")
    existing = target if target.exists() else target.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path}: not writable (or its parent is missing)")


def _readable(path: str, what: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ValueError(f"{what} {path}: {exc.strerror or exc}") from None


def _ca_file(path: str) -> None:
    _readable(path, "--tls-client-ca")
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        raise ValueError(
            f"--tls-client-ca {path}: no usable CA certificate: {exc.reason}"
        ) from None


def _networks(flag: str, values: Sequence[str]) -> None:
    for value in values:
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{flag} {value}: not an address or network") from None


def check_config(opts: Options) -> list[str]:
    """The problems of ``opts``; empty when the server would start with it."""
    from .auth import (
        BasicAuthenticator,
        JWTAuthenticator,
        StaticTokenAuthenticator,
        origin_middleware,
    )
    from .policy import load_policy_file
    from .security import build_authenticators
    from .security_options import check_listen_safety
    from .tls_files import check_certificate_pair

    sec = opts.security
    checks: list[Callable[[], object]] = []
    if opts.tls_cert:
        checks.append(lambda: check_certificate_pair(opts.tls_cert or "", opts.tls_key))
    if sec.tls_client_ca:
        checks.append(lambda: _ca_file(sec.tls_client_ca or ""))
        if not opts.tls_cert:
            checks.append(_fail("--tls-client-ca needs --tls-cert and --tls-key"))
    if sec.token_file:
        checks.append(
            lambda: _named("--token-file", sec.token_file, StaticTokenAuthenticator.from_file)
        )
    if sec.basic_auth_file:
        checks.append(
            lambda: _named("--basic-auth-file", sec.basic_auth_file, BasicAuthenticator.from_file)
        )
    if sec.jwt_key:
        checks.append(
            lambda: _named(
                "--jwt-key",
                sec.jwt_key,
                lambda p: JWTAuthenticator.from_key_file(p, algorithms=sec.jwt_algorithms),
            )
        )
    if sec.token_env and not os.environ.get(sec.token_env):
        checks.append(_fail(f"environment variable {sec.token_env} is not set"))
    if sec.policy:
        checks.append(lambda: _named("--policy", sec.policy, load_policy_file))
    if sec.audit_log:
        checks.append(lambda: _writable_file(sec.audit_log or "", "--audit-log"))
    if sec.record_dir:
        checks.append(lambda: _directory(sec.record_dir or "", "--record-dir"))
    if opts.execer:
        from .loader import load_execer

        checks.append(lambda: load_execer(opts.execer or ""))

    def listen_safety() -> None:
        try:
            authenticated = bool(build_authenticators(sec))
        except (OSError, ValueError):
            authenticated = True  # the broken file is reported on its own
        check_listen_safety(
            sec, host=opts.host, unix_socket=opts.unix_socket, authenticated=authenticated
        )

    checks.append(listen_safety)
    checks.append(lambda: _networks("--trusted-proxy", sec.trusted_proxies))
    checks.append(lambda: origin_middleware(sec.allowed_origins))
    if opts.service.metrics_listen is not None:
        from .metrics import require_prometheus

        checks.append(require_prometheus)
    problems: list[str] = []
    for check in checks:
        try:
            check()
        except Exception as exc:  # every loader's complaint is a finding
            problems.append(" ".join(str(exc).split()) or type(exc).__name__)
    return problems


def _named(flag: str, path: str | None, load: Callable[[str], object]) -> None:
    """Run ``load(path)``, making sure the message names the flag and the file."""
    try:
        load(path or "")
    except OSError as exc:
        raise ValueError(f"{flag} {path}: {exc.strerror or exc}") from None
    except Exception as exc:
        text = str(exc)
        raise ValueError(text if path and path in text else f"{flag} {path}: {text}") from None


def _fail(message: str) -> Callable[[], None]:
    def fail() -> None:
        raise ValueError(message)

    return fail
