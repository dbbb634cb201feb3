"""Table-driven attacks: each is refused before any process starts.

The server runs in this process with the real local execer wrapped in a
counting execer, so "nothing was spawned" is checked twice: the execer was
never asked to start anything, and this process has no new children.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from support.proc import children_of, proc_stat
from support.security import (
    PASSWORD,
    RUNNING_AS_ROOT,
    TOKENS,
    Layout,
    MakeSecure,
    attempt,
    auth,
    make_jwt,
    start_message,
)

ALICE = TOKENS["alice"]


def _basic(user: str, password: str) -> dict[str, str]:
    import base64

    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def _rsa_jwt() -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return make_jwt(key=key, alg="RS256")


def _none_jwt() -> str:
    import base64
    import time

    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': 'alice', 'exp': now + 300})}."


@dataclass
class Attack:
    name: str
    #: Builds (headers, params, protocols, start message) from the layout.
    build: Callable[[Layout], tuple[dict[str, str], dict[str, str], list[str], str | bytes]]
    status: int | None = None  # refused at the handshake with this HTTP status
    close_code: int | None = None  # or: the session closed with this code
    reason: str = ""  # ... and this text in the reason
    needs_root: bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)


def _ok_start(layout: Layout) -> str:
    return start_message("/usr/bin/echo", "pwned", working_dir=str(layout.work))


def handshake(
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    protocols: list[str] | None = None,
) -> Callable[..., Any]:
    return lambda layout: (headers or {}, params or {}, protocols or [], _ok_start(layout))


def refused(name: str, build: Callable[[Layout], Any], reason: str, status: int = 401) -> Attack:
    """An attack the handshake answers with ``status`` and ``reason``."""
    return Attack(name, build, status=status, reason=reason)


def refused_token(name: str, make_token: Callable[[], str], reason: str) -> Attack:
    """A handshake with the bearer token ``make_token()`` (made when the attack runs): 401."""
    return refused(name, lambda lay: handshake(auth(make_token()))(lay), reason)


def session(token: str, make_start: Callable[[Layout], str | bytes]) -> Callable[..., Any]:
    return lambda layout: (auth(token), {}, [], make_start(layout))


ATTACKS = [
    Attack("no token", handshake(), status=401, reason="authentication required"),
    refused("wrong token", handshake(auth("wrong-token-0123456789abcdef")), "invalid token"),
    refused(
        "wrong token in query",
        handshake(params={"token": "nope-0123456789abcdef"}),
        "invalid token",
    ),
    refused_token("expired JWT", lambda: make_jwt(ttl=-60), "token expired"),
    refused_token("JWT with alg none", _none_jwt, "'none' not allowed"),
    refused_token(
        "JWT signed with another key",
        lambda: make_jwt(key="another-secret-0123456789abcdefghij"),
        "signature invalid",
    ),
    refused_token(
        "JWT signed with another algorithm (HS512)",
        lambda: make_jwt(alg="HS512"),
        "'HS512' not allowed",
    ),
    refused_token("JWT signed with another algorithm (RS256)", _rsa_jwt, "'RS256' not allowed"),
    refused(
        "JWT in the query, expired",
        lambda lay: handshake(params={"token": make_jwt(ttl=-60)})(lay),
        "token expired",
    ),
    refused(
        "token in a cookie (unsupported place)",
        handshake({"Cookie": f"token={ALICE}"}),
        "authentication required",
    ),
    refused(
        "token in an unsupported header", handshake({"X-Token": ALICE}), "authentication required"
    ),
    refused(
        "token under an unsupported scheme",
        handshake({"Authorization": f"Token {ALICE}"}),
        "unsupported authorization scheme",
    ),
    refused(
        "basic auth with a wrong password",
        handshake(_basic("bob", "wrong")),
        "invalid user or password",
    ),
    refused(
        "proxy user header from an untrusted address",
        handshake({"X-Remote-User": "alice"}),
        "only from trusted proxies",
        403,
    ),
    refused(
        "cross-origin browser request (valid token)",
        handshake({**auth(ALICE), "Origin": "https://evil.example"}),
        "origin not allowed",
        403,
    ),
    refused(
        "cross-origin: same host, other port",
        handshake({**auth(ALICE), "Origin": "http://127.0.0.1:1"}),
        "origin not allowed",
        403,
    ),
    refused(
        "cross-origin: null origin",
        handshake({**auth(ALICE), "Origin": "null"}),
        "origin not allowed",
        403,
    ),
    Attack(
        "working_dir escaping its root with ..",
        session(
            ALICE,
            lambda lay: start_message("/usr/bin/echo", working_dir=f"{lay.work}/sub/../../outside"),
        ),
        close_code=1008,
        reason="working directory",
    ),
    Attack(
        "working_dir escaping its root through a symlink",
        session(
            ALICE, lambda lay: start_message("/usr/bin/echo", working_dir=f"{lay.work}/escape")
        ),
        close_code=1008,
        reason="working directory",
    ),
    Attack(
        "uid 0 (root) without the grant",
        session(
            TOKENS["noroot"],
            lambda lay: start_message("/usr/bin/echo", uid=0, working_dir=str(lay.work)),
        ),
        close_code=1008,
        reason="root (uid 0)",
        needs_root=True,
    ),
    Attack(
        "another user's uid without the grant",
        session(
            ALICE,
            lambda lay: start_message(
                "/usr/bin/echo", uid=65534, gid=65534, working_dir=str(lay.work)
            ),
        ),
        close_code=1008,
        reason="uid 65534",
    ),
    Attack(
        "disallowed command",
        session(ALICE, lambda lay: start_message("/usr/bin/id", working_dir=str(lay.work))),
        close_code=1008,
        reason="command /usr/bin/id",
    ),
    Attack(
        "disallowed command through a relative path",
        session(
            ALICE,
            lambda lay: start_message(
                os.path.relpath("/bin/sh", lay.work), "-c", "id", working_dir=str(lay.work)
            ),
        ),
        close_code=1008,
        reason="not allowed: command",
    ),
    Attack(
        "disallowed command through a symlink named like an allowed one",
        session(
            ALICE,
            lambda lay: start_message(f"{lay.evil}/echo", "-c", "id", working_dir=str(lay.work)),
        ),
        close_code=1008,
        reason="not allowed: command",
    ),
    Attack(
        "disallowed command through a relative symlink",
        session(ALICE, lambda lay: start_message("./echo", "-c", "id", working_dir=str(lay.work))),
        close_code=1008,
        reason="not allowed: command",
    ),
    Attack(
        "disallowed command through PATH in env",
        session(
            ALICE,
            lambda lay: start_message(
                "echo", "-c", "id", env=[f"PATH={lay.evil}"], working_dir=str(lay.work)
            ),
        ),
        close_code=1008,
        reason="environment variable PATH",
    ),
    Attack(
        "LD_PRELOAD in env",
        session(
            ALICE,
            lambda lay: start_message(
                "/usr/bin/echo", env=["LD_PRELOAD=/tmp/evil.so"], working_dir=str(lay.work)
            ),
        ),
        close_code=1008,
        reason="environment variable LD_PRELOAD",
    ),
    Attack(
        "TTY for an identity without TTYs",
        session(
            TOKENS["notty"],
            lambda lay: start_message("/usr/bin/echo", tty=True, working_dir=str(lay.work)),
        ),
        close_code=1008,
        reason="TTY",
    ),
    Attack(
        "oversized start header",
        session(
            ALICE,
            lambda lay: start_message(
                "/usr/bin/echo", "x" * 70_000, working_dir=str(lay.work)
            ).encode(),
        ),
        close_code=1009,
        reason="header",
    ),
]


def _spawned_nothing(before: set[int], server: Any) -> None:
    assert server.execer.started == [], f"the execer was asked to start {server.execer.started}"
    new = set(children_of()) - before
    assert not new, f"new child processes: {sorted(new)}"


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
async def test_attack_is_refused_before_any_process_starts(
    attack: Attack, make_secure_server: MakeSecure, no_leaked_children: None
) -> None:
    if attack.needs_root and not RUNNING_AS_ROOT:
        pytest.skip("uid 0 means 'the server's own user' unless the server runs as root")
    server = await make_secure_server()
    headers, params, protocols, start = attack.build(server.layout)
    before = set(children_of())
    out = await attempt(server.url, start, headers=headers, params=params, protocols=protocols)
    _spawned_nothing(before, server)
    if attack.status is not None:
        assert out.status == attack.status, out
        assert attack.reason in out.reason, out
    else:
        assert out.status is None, out
        assert out.exit is None, out
        assert out.close_code == attack.close_code, out
        assert attack.reason in out.close_reason, out


async def test_v2_refusal_carries_an_error_message(make_secure_server: MakeSecure) -> None:
    server = await make_secure_server()
    start = start_message(
        "/usr/bin/echo", env=["LD_PRELOAD=/x.so"], working_dir=str(server.layout.work)
    )
    out = await attempt(server.url, start, headers=auth(ALICE), protocols=["wsep.v2"])
    assert out.protocol == "wsep.v2"
    assert server.execer.started == []
    assert out.close_code == 1008
    assert out.errors, out
    assert out.errors[0]["code"] == "policy_violation"
    assert "LD_PRELOAD" in out.errors[0]["message"]


async def test_the_same_request_with_good_credentials_runs(
    make_secure_server: MakeSecure, no_leaked_children: None
) -> None:
    """The control: what the attacks lack is all that keeps them from running."""
    server = await make_secure_server()
    work = str(server.layout.work)
    start = start_message("/usr/bin/echo", "hello", working_dir=work)
    for headers in (auth(ALICE), auth(make_jwt()), _basic("bob", PASSWORD)):
        out = await attempt(server.url, start, headers=headers)
        assert out.exit is not None, out
        assert out.stdout == b"hello\n"
    # an allowed command through an allowed symlinked path, and same-origin browsers
    out = await attempt(
        server.url,
        start_message("/bin/echo", "via /bin", working_dir=work),
        headers={**auth(ALICE), "Origin": server.url.replace("ws://", "http://").rstrip("/")},
    )
    assert out.stdout == b"via /bin\n", out
    assert len(server.execer.started) == 4


async def test_session_limit_per_identity(
    make_secure_server: MakeSecure, no_leaked_children: None
) -> None:
    server = await make_secure_server()
    token = TOKENS["limited"]
    start = start_message("/usr/bin/cat", stdin=True, working_dir=str(server.layout.work))
    async with aiohttp.ClientSession() as http:
        first = await http.ws_connect(server.url, headers=auth(token))
        await first.send_str(start)
        msg = await asyncio.wait_for(first.receive(), 30)
        assert json.loads(msg.data.partition(b"\n")[0])["type"] == "pid"
        assert len(server.execer.started) == 1
        before = set(children_of())
        # one over the limit: refused, nothing spawned
        out = await attempt(server.url, start, headers=auth(token))
        assert len(server.execer.started) == 1
        assert not set(children_of()) - before
        assert out.close_code == 1008
        assert "more than 1 concurrent session" in out.close_reason
        # other identities are not affected
        ok = await attempt(
            server.url,
            start_message("/usr/bin/true", working_dir=str(server.layout.work)),
            headers=auth(ALICE),
        )
        assert ok.exit is not None
        await first.close()
    # the slot is free again once the first session ended; the client sees its
    # close before the server has reaped `cat`, so poll (bounded) for the release
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        again = await attempt(
            server.url,
            start_message("/usr/bin/echo", "again", working_dir=str(server.layout.work)),
            headers=auth(token),
        )
        if "concurrent session" not in again.close_reason:
            break
        assert asyncio.get_running_loop().time() < deadline, again
        await asyncio.sleep(0.05)
    assert again.stdout == b"again\n", again


async def test_a_detached_session_still_counts_and_reattaching_does_not(
    make_secure_server: MakeSecure, no_leaked_children: None
) -> None:
    """max_sessions = 1: a reattachable session holds the slot until it ends, not
    until its connection does; attaching to it again is not a second session."""

    def head(msg: aiohttp.WSMessage) -> dict[str, Any]:
        return json.loads(msg.data.partition(b"\n")[0])  # type: ignore[no-any-return]

    server = await make_secure_server()
    token = TOKENS["limited"]
    work = str(server.layout.work)
    session_start = json.loads(start_message("/usr/bin/cat", tty=True, working_dir=work))
    session_start["id"] = "kept"
    async with aiohttp.ClientSession() as http:
        first = await http.ws_connect(server.url, headers=auth(token))
        await first.send_str(json.dumps(session_start))
        msg = await asyncio.wait_for(first.receive(), 30)
        pid = head(msg)["pid"]
        await first.close()  # detached: the session and its `cat` live on
        refused = await attempt(server.url, start_message("/usr/bin/true", working_dir=work),
                                headers=auth(token))  # fmt: skip
        assert refused.close_code == 1008
        assert "more than 1 concurrent session" in refused.close_reason
        again = await http.ws_connect(server.url, headers=auth(token))
        await again.send_str(json.dumps(session_start))
        msg = await asyncio.wait_for(again.receive(), 30)
        assert head(msg)["pid"] == pid  # reattached
        await again.send_bytes(b'{"type":"stdin"}\n\x04')  # EOF: cat and the session end
        while head(await asyncio.wait_for(again.receive(), 30))["type"] != "exit_code":
            pass
        await again.close()
    assert len(server.execer.started) == 1
    # The slot comes back once the session has ended (asynchronously: poll, bounded).
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        ok = await attempt(
            server.url, start_message("/usr/bin/echo", "free", working_dir=work),
            headers=auth(token),
        )  # fmt: skip
        if "concurrent session" not in ok.close_reason:
            break
        assert asyncio.get_running_loop().time() < deadline, ok
        await asyncio.sleep(0.05)
    assert ok.stdout == b"free\n", ok


async def test_token_location_can_be_restricted(make_secure_server: MakeSecure) -> None:
    from wsep_server.auth import TokenLocation

    server = await make_secure_server(locations=(TokenLocation.HEADER,))
    work = str(server.layout.work)
    out = await attempt(server.url, _ok_start_at(work), params={"token": ALICE})
    assert out.status == 401
    assert "token in query parameter not accepted" in out.reason
    out = await attempt(
        server.url, _ok_start_at(work), protocols=["wsep.v2", f"wsep.token.{ALICE}"]
    )
    assert out.status == 401
    assert "subprotocol not accepted" in out.reason
    assert server.execer.started == []
    out = await attempt(server.url, _ok_start_at(work), headers=auth(ALICE))
    assert out.stdout == b"pwned\n"


def _ok_start_at(work: str) -> str:
    return start_message("/usr/bin/echo", "pwned", working_dir=work)


async def test_allowed_origin_list(make_secure_server: MakeSecure) -> None:
    server = await make_secure_server(allowed_origins=("https://app.example",))
    work = str(server.layout.work)
    out = await attempt(
        server.url, _ok_start_at(work), headers={**auth(ALICE), "Origin": "https://app.example"}
    )
    assert out.stdout == b"pwned\n"
    out = await attempt(
        server.url, _ok_start_at(work), headers={**auth(ALICE), "Origin": "https://evil.example"}
    )
    assert out.status == 403


@pytest.mark.parametrize(
    ("who", "argv", "reason"),
    [
        ("short", ["/usr/bin/sleep", "30"], "maximum duration of 0.5 s exceeded"),
        ("small", ["/usr/bin/yes"], "output limit of 100000 bytes exceeded"),
    ],
)
async def test_run_time_limits_end_the_process(
    who: str, argv: list[str], reason: str, make_secure_server: MakeSecure, no_leaked_children: None
) -> None:
    server = await make_secure_server()
    start = start_message(*argv, working_dir=str(server.layout.work))
    out = await attempt(server.url, start, headers=auth(TOKENS[who]), protocols=["wsep.v2"])
    assert len(server.execer.started) == 1
    assert out.close_code == 1008, out
    stated = [e["message"] for e in out.errors] + [out.close_reason]
    assert any(reason in text for text in stated), out
    assert out.errors[0]["code"] == "limit_exceeded"
    assert len(out.stdout) <= 100_000
    assert proc_stat(server.execer.pids[0]) is None  # ended and reaped


async def test_path_in_env_does_not_change_what_runs(make_secure_server: MakeSecure) -> None:
    """Even where PATH may be set, the command is looked up in the server's PATH."""
    server = await make_secure_server()
    layout = server.layout
    start = start_message(
        "echo", "-c", "echo pwned", env=[f"PATH={layout.evil}"], working_dir=str(layout.work)
    )
    out = await attempt(server.url, start, headers=auth(TOKENS["pathok"]))
    assert out.stdout == b"-c echo pwned\n", out  # /usr/bin/echo, not the shell in evil/
    assert server.execer.started[0].command == "echo"


async def test_refusal_reason_is_in_the_headers(make_server: Any) -> None:
    """401/403 carry the reason in X-Wsep-Error (and RFC 6750's error_description), so
    the client reports it from the failed handshake alone, without a second request."""
    from aiohttp import web
    from wsep_client import AuthenticationError, RemoteExecer
    from wsep_protocol import Command
    from wsep_server.auth import StaticTokenAuthenticator, auth_middleware, origin_middleware

    requests: list[str] = []

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        requests.append(request.path)
        return await handler(request)  # type: ignore[no-any-return]

    url = await make_server(
        middlewares=[
            count,
            origin_middleware(),
            auth_middleware([StaticTokenAuthenticator(plain=TOKENS.items())]),
        ]
    )
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url, headers=auth("wrong-token-0123456789abcdef"))
        assert info.value.status == 401
        headers = info.value.headers
        assert headers is not None
        assert headers["X-Wsep-Error"] == "invalid token"
        assert headers["WWW-Authenticate"] == (
            'Bearer error="invalid_token", error_description="invalid token"'
        )
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url)
        assert info.value.headers is not None
        assert info.value.headers["WWW-Authenticate"] == "Bearer"  # no token: no error code
        assert info.value.headers["X-Wsep-Error"] == "authentication required"
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url, headers={**auth(ALICE), "Origin": "https://evil.example"})
        assert info.value.status == 403
        assert info.value.headers is not None
        assert "origin not allowed" in info.value.headers["X-Wsep-Error"]
    requests.clear()
    async with RemoteExecer(url, token="wrong-token-0123456789abcdef") as execer:
        with pytest.raises(AuthenticationError) as auth_info:
            await execer.start(Command(command="true"))
    assert auth_info.value.detail == "invalid token"
    assert requests == ["/"], "the client asked again for the reason"
