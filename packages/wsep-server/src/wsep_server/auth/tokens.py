"""Bearer tokens: where a request may carry one, and static tokens checked by hash.

A browser cannot set headers on a WebSocket, so besides ``Authorization:
Bearer`` a token may come as a subprotocol entry ``wsep.token.<token>`` (never
echoed back: the server only ever selects ``wsep.v2``) or as a ``token`` query
parameter. Each authenticator is told which of these places it accepts; a
token anywhere else is not looked at.

Static tokens are stored as SHA-256 hashes (they are long random strings, so a
fast hash is enough) and compared with :func:`hmac.compare_digest` against
every entry, so the time taken does not depend on which entry matched.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from wsep_protocol import TOKEN_SUBPROTOCOL_PREFIX, offered_subprotocols

from ..hooks import Identity
from .base import Authenticator, AuthRejected, make_identity

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "SUBPROTOCOL_TOKEN_PREFIX",
    "StaticTokenAuthenticator",
    "TokenAuthenticator",
    "TokenLocation",
    "find_token",
    "generate_token",
    "hash_token",
    "load_token_file",
]

SUBPROTOCOL_TOKEN_PREFIX = TOKEN_SUBPROTOCOL_PREFIX
DEFAULT_TOKEN_ENV = "WSEP_TOKEN"
_HASH_PREFIX = "sha256:"


class TokenLocation(str, enum.Enum):
    """Where a bearer token may be carried."""

    HEADER = "header"
    SUBPROTOCOL = "subprotocol"
    QUERY = "query"


ALL_LOCATIONS: tuple[TokenLocation, ...] = tuple(TokenLocation)


@runtime_checkable
class TokenAuthenticator(Authenticator, Protocol):
    """An authenticator of bearer tokens, looked for only in ``locations``.

    The auth middleware uses them to tell a client whose token sits where no
    authenticator looks ("token in query not accepted") from one whose token
    is wrong ("invalid token").
    """

    locations: tuple[TokenLocation, ...]


def find_token(
    request: web.Request, locations: Iterable[TokenLocation] = ALL_LOCATIONS
) -> tuple[str, TokenLocation] | None:
    """The first token found in the allowed ``locations``, in header, subprotocol, query order.

    Raises :class:`AuthRejected` for a malformed ``Authorization`` header that
    claims to be a bearer token.
    """
    allowed = set(locations)
    if TokenLocation.HEADER in allowed:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            value = value.strip()
            if not value:
                raise AuthRejected("empty bearer token")
            return value, TokenLocation.HEADER
    if TokenLocation.SUBPROTOCOL in allowed:
        for entry in offered_subprotocols(request.headers.getall("Sec-WebSocket-Protocol", ())):
            if entry.startswith(SUBPROTOCOL_TOKEN_PREFIX):
                value = entry[len(SUBPROTOCOL_TOKEN_PREFIX) :]
                if value:
                    return value, TokenLocation.SUBPROTOCOL
    if TokenLocation.QUERY in allowed:
        value = request.query.get("token", "")
        if value:
            return value, TokenLocation.QUERY
    return None


def generate_token() -> str:
    """A new random token (256 bits, URL- and subprotocol-safe)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The form a token is stored in: ``sha256:<hex>``."""
    return _HASH_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    digest: bytes


def load_token_file(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Read ``<name> sha256:<hex>`` lines (``#`` comments, blank lines allowed).

    Returns (name, stored hash) pairs. A line in any other form is an error
    naming the line, never showing its content (it might be a raw token).
    """
    pairs: list[tuple[str, str]] = []
    text = Path(path).read_text(encoding="utf-8")
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not _valid_hash(parts[1]):
            raise ValueError(
                f"{path}:{lineno}: expected '<name> sha256:<64 hex digits>' "
                "(make one with: python -m wsep_server.auth hash-token)"
            )
        pairs.append((parts[0], parts[1]))
    return pairs


def _valid_hash(stored: str) -> bool:
    if not stored.startswith(_HASH_PREFIX):
        return False
    digest = stored[len(_HASH_PREFIX) :]
    return len(digest) == 64 and all(c in "0123456789abcdef" for c in digest.lower())


class StaticTokenAuthenticator:
    """Long-lived bearer tokens from a file of hashes and/or an environment variable."""

    scheme = "Bearer"

    def __init__(
        self,
        hashed: Iterable[tuple[str, str]] = (),
        *,
        plain: Iterable[tuple[str, str]] = (),
        locations: Sequence[TokenLocation] = ALL_LOCATIONS,
    ) -> None:
        """``hashed``: (name, ``sha256:<hex>``) pairs; ``plain``: (name, token) pairs."""
        entries: list[_Entry] = []
        for name, stored in hashed:
            if not _valid_hash(stored):
                raise ValueError(f"token hash for {name!r} is not sha256:<64 hex digits>")
            entries.append(_Entry(name, bytes.fromhex(stored[len(_HASH_PREFIX) :])))
        for name, token in plain:
            if len(token) < 16:
                raise ValueError(f"token for {name!r} is too short (need 16+ characters)")
            entries.append(_Entry(name, hashlib.sha256(token.encode("utf-8")).digest()))
        if not entries:
            raise ValueError("no tokens configured")
        self._entries = tuple(entries)
        self.locations = tuple(locations)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, locations: Sequence[TokenLocation] = ALL_LOCATIONS
    ) -> StaticTokenAuthenticator:
        return cls(load_token_file(path), locations=locations)

    @classmethod
    def from_env(
        cls,
        variable: str = DEFAULT_TOKEN_ENV,
        *,
        name: str = "token",
        locations: Sequence[TokenLocation] = ALL_LOCATIONS,
    ) -> StaticTokenAuthenticator:
        token = os.environ.get(variable, "")
        if not token:
            raise ValueError(f"environment variable {variable} is not set")
        return cls(plain=[(name, token)], locations=locations)

    def match(self, token: str) -> str | None:
        """The name whose token this is; every entry is compared, in constant time each."""
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found: str | None = None
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.digest) and found is None:
                found = entry.name
        return found

    async def authenticate(self, request: web.Request) -> Identity | None:
        located = find_token(request, self.locations)
        if located is None:
            return None
        token, where = located
        if _looks_like_jwt(token):
            return None  # a JWT: the JWT authenticator judges it
        name = self.match(token)
        if name is None:
            raise AuthRejected("invalid token")
        return make_identity(name, auth="token", via=where.value)


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")
