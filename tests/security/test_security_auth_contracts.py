"""What authenticators and identities offer is typed: recognised by ``isinstance``, not probed."""

from __future__ import annotations

import pytest
from wsep_server.auth import (
    Authenticator,
    BasicAuthenticator,
    JWTAuthenticator,
    PeerCredAuthenticator,
    StaticTokenAuthenticator,
    TokenAuthenticator,
    TokenLocation,
    make_identity,
)
from wsep_server.hooks import Identity
from wsep_server.reload import ReloadableAuthenticator
from wsep_server.sessions import identity_name

SECRET = "s" * 32


def test_token_authenticators_say_where_they_look() -> None:
    header_only = (TokenLocation.HEADER,)
    static = StaticTokenAuthenticator(plain=[("alice", "t" * 32)], locations=header_only)
    jwt = JWTAuthenticator(SECRET, algorithms=["HS256"], locations=header_only)
    for authenticator in (static, jwt):
        assert isinstance(authenticator, TokenAuthenticator)
        assert authenticator.locations == header_only


@pytest.mark.parametrize(
    "authenticator",
    [BasicAuthenticator([("alice", "x")]), PeerCredAuthenticator()],
    ids=["basic", "peercred"],
)
def test_other_authenticators_take_no_tokens(authenticator: Authenticator) -> None:
    assert isinstance(authenticator, Authenticator)
    assert not isinstance(authenticator, TokenAuthenticator)
    assert ReloadableAuthenticator(authenticator).locations == ()


def test_a_reloadable_token_authenticator_keeps_its_places() -> None:
    static = StaticTokenAuthenticator(
        plain=[("alice", "t" * 32)], locations=(TokenLocation.QUERY, TokenLocation.HEADER)
    )
    wrapper = ReloadableAuthenticator(static)
    assert isinstance(wrapper, TokenAuthenticator)
    assert wrapper.locations == (TokenLocation.QUERY, TokenLocation.HEADER)
    assert wrapper.scheme == static.scheme


@pytest.mark.parametrize(
    ("identity", "name"),
    [
        (None, None),
        (Identity("alice"), "alice"),
        (make_identity("alice", auth="jwt"), "jwt:alice"),
        (make_identity("alice", auth="token", principal="al"), "al"),
    ],
)
def test_sessions_are_scoped_by_what_the_identity_says(
    identity: Identity | None, name: str | None
) -> None:
    assert identity_name(identity) == name
