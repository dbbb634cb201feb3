"""HTTP Basic authentication against bcrypt password hashes (an htpasswd-style file).

bcrypt is slow on purpose (at 12 rounds, 0.2-0.8 s), so checks run on a small
pool of threads of their own (:class:`~.penalty.HashingPool`), never on the
event loop nor its default executor; an unknown user costs the same as a wrong
password, so user names cannot be probed by timing. A successful check is
remembered for ``cache_ttl`` seconds under a keyed hash (never the password
itself), so a client running many short commands pays bcrypt once. Failed
logins back off per client address (:class:`~.penalty.PeerPenalties`), and a
password longer than bcrypt's 72 bytes is a failed login, never an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import bcrypt

from ..hooks import Identity
from .base import AuthRejected, make_identity
from .penalty import HashingPool, PeerPenalties, shared_hashing_pool

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["BasicAuthenticator", "hash_password", "load_password_file"]

_DEFAULT_ROUNDS = 12
#: bcrypt looks at this many bytes of a password and refuses longer ones.
MAX_PASSWORD_BYTES = 72


def hash_password(password: str, *, rounds: int = _DEFAULT_ROUNDS) -> str:
    """A bcrypt hash (``$2b$...``) for a password file line."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def load_password_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read ``user:$2b$...`` lines (``#`` comments and blank lines allowed)."""
    users: dict[str, str] = {}
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, stored = line.partition(":")
        if not sep or not user or not stored.startswith(("$2a$", "$2b$", "$2y$")):
            raise ValueError(f"{path}:{lineno}: expected 'user:<bcrypt hash>'")
        users[user] = stored
    return users


class BasicAuthenticator:
    """``Authorization: Basic`` with bcrypt-hashed passwords."""

    scheme = 'Basic realm="wsep", charset="UTF-8"'

    def __init__(
        self,
        users: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        cache_ttl: float = 300.0,
        cache_size: int = 1024,
        pool: HashingPool | None = None,
        penalties: PeerPenalties | None = None,
    ) -> None:
        self._users = {user: stored.encode("ascii") for user, stored in dict(users).items()}
        if not self._users:
            raise ValueError("no users configured")
        # Checked for unknown users so they cost as much as known ones.
        self._dummy = next(iter(self._users.values()))
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size
        self._cache_key = secrets.token_bytes(32)
        self._cache: dict[bytes, float] = {}
        self.pool = pool if pool is not None else shared_hashing_pool()
        self.penalties = penalties if penalties is not None else PeerPenalties()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BasicAuthenticator:
        return cls(load_password_file(path))

    def check(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s (blocking: call it off the event loop)."""
        stored = self._users.get(user)
        secret = password.encode("utf-8")
        if len(secret) > MAX_PASSWORD_BYTES:
            return False  # bcrypt would raise; no stored hash can match it anyway
        ok = bcrypt.checkpw(secret, stored or self._dummy)
        return ok and stored is not None

    async def authenticate(self, request: web.Request) -> Identity | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthRejected("malformed basic credentials") from None
        user, sep, password = decoded.partition(":")
        if not sep or not user:
            raise AuthRejected("malformed basic credentials")
        from ..client_address import client_address  # it builds on this package

        # Behind a proxy (--forwarded-from) the client's address, so one client's
        # failures do not lock out everyone else behind the same proxy.
        peer = client_address(request)
        if not await self._verify(user, password, peer):
            self.penalties.failed(peer)
            raise AuthRejected("invalid user or password")
        self.penalties.succeeded(peer)
        return make_identity(user, auth="basic")

    async def _verify(self, user: str, password: str, peer: str = "") -> bool:
        key = hmac.new(self._cache_key, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        now = time.monotonic()
        expires = self._cache.get(key)
        if expires is not None and expires > now:
            return True
        self.penalties.check(peer)
        if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            return False
        if not await self.pool.run(peer, lambda: self.check(user, password)):
            self._cache.pop(key, None)
            return False
        if self.cache_ttl > 0:
            if len(self._cache) >= self.cache_size:
                self._cache.pop(next(iter(self._cache)))  # the oldest entry
            self._cache[key] = now + self.cache_ttl
        return True
