"""SIGHUP: read the configuration's files again without dropping anyone.

Token files, the basic-auth file, the JWT key, the policy and the TLS
certificate are read and checked completely first; only when everything is
good does the running server switch over (new requests and handshakes use the
new files, running sessions go on). A broken file is refused with a log line
and the previous configuration stays in force. The audit log reopens itself on
the same signal.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import systemd
from .auth.tokens import TokenAuthenticator, TokenLocation

if TYPE_CHECKING:
    from aiohttp import web

    from .auth.base import Authenticator
    from .hooks import Identity
    from .security import Security
    from .security_options import SecurityOptions

__all__ = ["ReloadableAuthenticator", "Reloader", "reloadable"]

_log = logging.getLogger("wsep_server.reload")


class ReloadableAuthenticator:
    """An authenticator whose implementation a reload replaces in place."""

    def __init__(self, current: Authenticator) -> None:
        self.current = current
        self.scheme: str = current.scheme
        #: Where its tokens are looked for (a reload keeps them: they are options).
        self.locations: tuple[TokenLocation, ...] = (
            current.locations if isinstance(current, TokenAuthenticator) else ()
        )

    async def authenticate(self, request: web.Request) -> Identity | None:
        return await self.current.authenticate(request)

    def __repr__(self) -> str:
        return f"<reloadable {self.current!r}>"


def reloadable(authenticators: Sequence[Authenticator]) -> list[ReloadableAuthenticator]:
    """Wrap each authenticator so :class:`Reloader` can swap it."""
    return [ReloadableAuthenticator(a) for a in authenticators]


class Reloader:
    """Re-reads the files behind ``security`` (and the TLS pair) on :meth:`reload`."""

    def __init__(
        self,
        opts: SecurityOptions,
        security: Security,
        *,
        ssl_context: ssl.SSLContext | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        self.opts = opts
        self.security = security
        self.ssl_context = ssl_context
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.reloads = 0
        self.refusals = 0

    def on_hangup(self) -> None:
        """The SIGHUP handler."""
        self.reload()

    def reload(self) -> bool:
        """Switch to the files as they are now, or keep everything; never raises."""
        systemd.notify_reloading()
        try:
            apply = self._prepare()
        except Exception as exc:
            self.refusals += 1
            _log.error("reload refused, the previous configuration stays in force: %s", exc)
            systemd.notify("READY=1", f"STATUS=reload refused: {exc}"[:200])
            return False
        apply()
        self.reloads += 1
        _log.info("configuration reloaded (credentials, policy, TLS certificate)")
        systemd.notify("READY=1", "STATUS=serving (configuration reloaded)")
        return True

    def _prepare(self) -> Any:
        """Read and check everything; return the function that switches over."""
        from .policy import FilePolicy, load_policy_file
        from .security import build_authenticators
        from .tls_files import check_certificate_pair

        current = list(self.security.swappable)
        # Nothing configured: the defaults (a token made for the run, SO_PEERCRED) stay.
        fresh = build_authenticators(self.opts) or [w.current for w in current]
        if len(fresh) != len(current):
            raise ValueError("the authentication methods changed: restart the server")
        policy = self.security.policy
        policy_file = None
        if self.opts.policy and isinstance(policy, FilePolicy):
            policy_file = load_policy_file(self.opts.policy)
            sections = [policy_file.default, policy_file.anonymous]
            sections += list(policy_file.identities.values())
            if not self.opts.record_dir and any(s is not None and s.record for s in sections):
                raise ValueError(f"{self.opts.policy}: the policy records: give --record-dir")
        if self.ssl_context is not None and self.tls_cert:
            check_certificate_pair(self.tls_cert, self.tls_key)

        def switch() -> None:
            for wrapper, new in zip(current, fresh, strict=True):
                wrapper.current = new
            self.security.authenticators = fresh
            if policy_file is not None and isinstance(policy, FilePolicy):
                policy.policy = policy_file
            if self.ssl_context is not None and self.tls_cert:
                self.ssl_context.load_cert_chain(self.tls_cert, self.tls_key)

        return switch
