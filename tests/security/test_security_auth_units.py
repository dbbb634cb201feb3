"""The authenticators and the origin rule on their own (no server)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from support.security import JWT_SECRET, make_jwt


def test_token_file(tmp_path: Path) -> None:
    from wsep_server.auth import StaticTokenAuthenticator, hash_token, load_token_file

    path = tmp_path / "tokens"
    path.write_text(
        f"# comment\n\nalice {hash_token('alice-token-0123456789')}\n"
        f"bob   {hash_token('bob-token-0123456789abc')}\n"
    )
    pairs = load_token_file(path)
    assert [name for name, _ in pairs] == ["alice", "bob"]
    auth = StaticTokenAuthenticator.from_file(path)
    assert auth.match("alice-token-0123456789") == "alice"
    assert auth.match("bob-token-0123456789abc") == "bob"
    assert auth.match("alice-token-012345678") is None
    assert auth.match("") is None
    path.write_text("alice raw-secret-token-value\n")
    with pytest.raises(ValueError, match=r"tokens:1: expected") as info:
        load_token_file(path)
    assert "raw-secret-token-value" not in str(info.value)


def test_static_token_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsep_server.auth import StaticTokenAuthenticator

    with pytest.raises(ValueError, match="no tokens"):
        StaticTokenAuthenticator()
    with pytest.raises(ValueError, match="too short"):
        StaticTokenAuthenticator(plain=[("a", "short")])
    with pytest.raises(ValueError, match="sha256"):
        StaticTokenAuthenticator([("a", "md5:abc")])
    monkeypatch.delenv("WSEP_TOKEN", raising=False)
    with pytest.raises(ValueError, match="WSEP_TOKEN is not set"):
        StaticTokenAuthenticator.from_env()
    monkeypatch.setenv("WSEP_TOKEN", "from-env-0123456789abcdef")
    assert StaticTokenAuthenticator.from_env().match("from-env-0123456789abcdef") == "token"


def test_generated_tokens_are_random_and_subprotocol_safe() -> None:
    from wsep_server.auth import generate_token

    tokens = {generate_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert len(token) >= 43
        assert all(c.isalnum() or c in "-_" for c in token)


def test_jwt_configuration_is_explicit() -> None:
    from wsep_server.auth import JWTAuthenticator

    with pytest.raises(ValueError, match="allowlist is required"):
        JWTAuthenticator(JWT_SECRET, algorithms=[])
    with pytest.raises(ValueError, match="'none' is not allowed"):
        JWTAuthenticator(JWT_SECRET, algorithms=["HS256", "none"])
    with pytest.raises(ValueError, match="do not mix"):
        JWTAuthenticator(JWT_SECRET, algorithms=["HS256", "RS256"])
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JWTAuthenticator("short", algorithms=["HS256"])


OK_CLAIMS = {"iss": "wsep-tests", "aud": "wsep"}


@pytest.mark.parametrize(
    ("token_factory", "reason"),
    [
        (lambda: jwt.encode({"sub": "a", "iat": 1, **OK_CLAIMS}, JWT_SECRET), "lacks the 'exp'"),
        (lambda: make_jwt(nbf=int(time.time()) + 300, **OK_CLAIMS), "not yet valid"),
        (lambda: make_jwt(iss="someone-else", aud="wsep"), "issuer or audience"),
        (lambda: make_jwt(iss="wsep-tests", aud="other"), "issuer or audience"),
        (lambda: make_jwt(ttl=10 * 86400, **OK_CLAIMS), "lifetime too long"),
        (lambda: "eyJhbGciOi.not-base64.x", "malformed token"),
    ],
)
def test_jwt_rejections(token_factory: Callable[[], str], reason: str) -> None:
    from wsep_server.auth import AuthRejected, JWTAuthenticator

    auth = JWTAuthenticator(
        JWT_SECRET, algorithms=["HS256"], issuer="wsep-tests", audience="wsep", max_lifetime=86400
    )
    assert auth.decode(make_jwt(**OK_CLAIMS))["sub"] == "alice"
    with pytest.raises(AuthRejected, match=reason):
        auth.decode(token_factory())


def test_jwt_with_issuer_and_audience() -> None:
    from wsep_server.auth import JWTAuthenticator

    auth = JWTAuthenticator(JWT_SECRET, algorithms=["HS256"], issuer="me", audience="wsep")
    assert auth.decode(make_jwt(iss="me", aud="wsep"))["sub"] == "alice"


def test_jwt_public_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from wsep_server.auth import AuthRejected, JWTAuthenticator

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    auth = JWTAuthenticator(public, algorithms=["ES256"])
    assert auth.decode(make_jwt(key=key, alg="ES256"))["sub"] == "alice"
    # the classic confusion: an HS256 token "signed" with the public key as secret
    forged = jwt.api_jws.PyJWS().encode(
        b'{"sub":"alice","exp":9999999999}', key="x" * 32, algorithm="HS256"
    )
    with pytest.raises(AuthRejected, match="'HS256' not allowed"):
        auth.decode(forged)


def test_password_file_and_check(tmp_path: Path) -> None:
    from wsep_server.auth import BasicAuthenticator, hash_password, load_password_file

    path = tmp_path / "users"
    path.write_text(f"# users\nbob:{hash_password('pw-1', rounds=4)}\n")
    auth = BasicAuthenticator.from_file(path)
    assert auth.check("bob", "pw-1")
    assert not auth.check("bob", "pw-2")
    assert not auth.check("mallory", "pw-1")
    path.write_text("bob:plaintext\n")
    with pytest.raises(ValueError, match="users:1"):
        load_password_file(path)


def test_trusted_proxy_addresses() -> None:
    from wsep_server.auth import TrustedProxyAuthenticator

    auth = TrustedProxyAuthenticator(["127.0.0.1", "10.0.0.0/8", "::1"])
    assert auth.trusted("127.0.0.1")
    assert auth.trusted("10.1.2.3")
    assert auth.trusted("::1")
    assert auth.trusted("::ffff:10.9.9.9")
    assert not auth.trusted("127.0.0.2")
    assert not auth.trusted("192.168.0.1")
    assert not auth.trusted("")
    with pytest.raises(ValueError, match="at least one"):
        TrustedProxyAuthenticator([])


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "ok"),
    [
        (None, "h:8080", (), True),  # not a browser
        ("http://h:8080", "h:8080", (), True),  # same origin
        ("https://H", "h", (), True),  # case, default port
        ("https://h", "h:443", (), True),
        ("https://h:443", "h", (), True),
        ("https://h", "h:80", (), False),  # other port
        ("http://h:8080", "h:8081", (), False),
        ("http://evil:8080", "h:8080", (), False),
        ("null", "h", (), False),
        ("null", "h", ("null",), True),
        ("garbage", "h", (), False),
        ("https://app.example", "h", ("https://app.example",), True),
        ("https://app.example:443", "h", ("https://app.example",), True),
        ("http://app.example", "h", ("https://app.example",), False),  # scheme counts here
        ("https://anything", "h", ("*",), True),
        ("http://h:8080", "h:8080", ("https://app.example",), True),
    ],
)
def test_origin_rule(origin: str | None, host: str, allowed: tuple[str, ...], ok: bool) -> None:
    from wsep_server.auth import origin_allowed

    assert origin_allowed(origin, host, allowed) is ok


def test_origin_middleware_rejects_bad_config() -> None:
    from wsep_server.auth import origin_middleware

    with pytest.raises(ValueError, match="not an origin"):
        origin_middleware(["app.example"])


def test_identities_are_hashable_and_comparable() -> None:
    from wsep_server.auth import make_identity

    a = make_identity("alice", auth="token", via="query")
    b = make_identity("alice", auth="token", via="query")
    c = make_identity("alice", auth="jwt", via="query")
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    assert dict(a.attributes) == {"auth": "token", "via": "query"}
    from wsep_server.hooks import Identity

    plain = Identity("alice", {"auth": "token", "via": "query"})  # a plain dict works too
    assert plain == a
    assert hash(plain) == hash(a)
    assert plain in {a}


def test_auth_tool(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from wsep_server.auth import hash_token
    from wsep_server.auth.__main__ import main

    assert main(["gen-token"]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 43
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    assert main(["hash-token", "alice"]) == 0
    assert capsys.readouterr().out.strip() == f"alice {hash_token(token)}"


async def test_basic_auth_remembers_good_passwords_only() -> None:
    from wsep_server.auth import BasicAuthenticator, hash_password

    class Counting(BasicAuthenticator):
        calls = 0

        def check(self, user: str, password: str) -> bool:
            Counting.calls += 1
            return super().check(user, password)

    auth = Counting({"bob": hash_password("pw", rounds=4)}, cache_size=2)
    assert await auth._verify("bob", "pw")
    assert await auth._verify("bob", "pw")
    assert Counting.calls == 1  # bcrypt once
    assert not await auth._verify("bob", "wrong")
    assert not await auth._verify("bob", "wrong")
    assert Counting.calls == 3  # failures are never remembered
    assert not await auth._verify("alice", "pw")
    assert len(auth._cache) == 1
    uncached = Counting({"bob": hash_password("pw", rounds=4)}, cache_ttl=0)
    Counting.calls = 0
    assert await uncached._verify("bob", "pw")
    assert await uncached._verify("bob", "pw")
    assert Counting.calls == 2
