"""Signed, expiring tokens (JWT, PyJWT) with an explicit algorithm allowlist.

The allowlist is never taken from the token: ``alg: none`` and any algorithm
not configured are refused, as are tokens without ``exp``, with an ``exp``
that is not a number, and (with ``max_lifetime``) tokens valid for longer than
that from now or from their ``iat``. The identity is the ``sub`` claim (or
another configured claim).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt

from ..hooks import Identity
from .base import AuthRejected, make_identity
from .tokens import ALL_LOCATIONS, TokenLocation, find_token

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["HMAC_ALGORITHMS", "JWTAuthenticator"]

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
_KNOWN = HMAC_ALGORITHMS | {
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
}


class JWTAuthenticator:
    """Validates ``Authorization: Bearer``/subprotocol/query JWTs against one key."""

    scheme = "Bearer"

    def __init__(
        self,
        key: str | bytes,
        *,
        algorithms: Sequence[str],
        issuer: str | None = None,
        audience: str | None = None,
        identity_claim: str = "sub",
        leeway: float = 0.0,
        max_lifetime: float | None = None,
        locations: Sequence[TokenLocation] = ALL_LOCATIONS,
    ) -> None:
        """``key``: the HMAC secret, or a public key in PEM for the asymmetric algorithms.

        ``max_lifetime`` refuses tokens whose ``exp`` lies further ahead than that
        (from now, and from ``iat`` when the token has one).
        """
        if not algorithms:
            raise ValueError("JWT: an explicit algorithm allowlist is required")
        for alg in algorithms:
            if alg not in _KNOWN:
                raise ValueError(f"JWT: algorithm {alg!r} is not allowed")
        hmac_algs = HMAC_ALGORITHMS.intersection(algorithms)
        if hmac_algs and len(hmac_algs) != len(algorithms):
            raise ValueError("JWT: do not mix HMAC and public-key algorithms for one key")
        if hmac_algs and len(key) < 32:
            raise ValueError("JWT: an HMAC secret must be at least 32 bytes")
        self._key = key
        self.algorithms = list(algorithms)
        self.issuer = issuer
        self.audience = audience
        self.identity_claim = identity_claim
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.locations = tuple(locations)

    @classmethod
    def from_key_file(
        cls, path: str | os.PathLike[str], *, algorithms: Sequence[str], **kwargs: Any
    ) -> JWTAuthenticator:
        data = Path(path).read_bytes()
        key: str | bytes = data.strip() if set(algorithms) <= HMAC_ALGORITHMS else data
        return cls(key, algorithms=algorithms, **kwargs)

    def decode(self, token: str) -> dict[str, Any]:
        """The validated claims, or :class:`AuthRejected` saying what is wrong."""
        required = ["exp", self.identity_claim]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthRejected("malformed token") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise AuthRejected(f"token algorithm {str(alg)[:16]!r} not allowed")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": required, "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthRejected("token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthRejected("token not yet valid") from None
        except jwt.InvalidSignatureError:
            raise AuthRejected("token signature invalid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthRejected(f"token lacks the {exc.claim!r} claim") from None
        except (jwt.InvalidIssuerError, jwt.InvalidAudienceError):
            raise AuthRejected("token issuer or audience not accepted") from None
        except jwt.PyJWTError:
            raise AuthRejected("invalid token") from None
        self._check_lifetime(claims)
        return claims

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        times = {k: claims[k] for k in ("exp", "iat", "nbf") if k in claims}
        for name, value in times.items():
            # PyJWT takes "9999999999" (a string) for a number: a token must not.
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise AuthRejected(f"token {name!r} claim is not a number")
        if self.max_lifetime is None:
            return
        exp = float(times["exp"])
        if exp - time.time() > self.max_lifetime + self.leeway:
            raise AuthRejected("token lifetime too long")
        if "iat" in times and exp - float(times["iat"]) > self.max_lifetime:
            raise AuthRejected("token lifetime too long")

    async def authenticate(self, request: web.Request) -> Identity | None:
        located = find_token(request, self.locations)
        if located is None:
            return None
        token, where = located
        if token.count(".") != 2:
            return None  # not a JWT: a static token authenticator may know it
        claims = self.decode(token)
        subject = claims[self.identity_claim]
        if not isinstance(subject, str) or not subject:
            raise AuthRejected(f"token {self.identity_claim!r} claim is not a name")
        return make_identity(subject, auth="jwt", via=where.value)
