"""Where tokens may travel (header, subprotocol, query) and that logs never show them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web
from support.security import TOKENS, MakeSecure, attempt, auth, make_jwt, start_message

ALICE = TOKENS["alice"]


@pytest.mark.parametrize("where", ["header", "subprotocol", "query"])
@pytest.mark.parametrize("kind", ["jwt", "static"])
async def test_token_transports(where: str, kind: str, make_secure_server: MakeSecure) -> None:
    server = await make_secure_server()
    token = make_jwt("alice") if kind == "jwt" else ALICE
    kwargs: dict[str, Any] = {}
    if where == "header":
        kwargs["headers"] = auth(token)
    elif where == "subprotocol":
        kwargs["protocols"] = ["wsep.v2", f"wsep.token.{token}"]
    else:
        kwargs["params"] = {"token": token}
    start = start_message("/usr/bin/echo", where, working_dir=str(server.layout.work))
    out = await attempt(server.url, start, **kwargs)
    assert out.stdout == f"{where}\n".encode(), out
    if where == "subprotocol":
        assert out.protocol == "wsep.v2"  # selected; the token entry is never echoed


async def test_subprotocol_token_alone_is_refused_without_echo(
    make_secure_server: MakeSecure,
) -> None:
    """A 101 without a subprotocol would make a browser abort: 400, naming the fix."""
    server = await make_secure_server()
    start = start_message("/usr/bin/echo", "v1", working_dir=str(server.layout.work))
    out = await attempt(server.url, start, protocols=[f"wsep.token.{ALICE}"])
    assert out.status == 400
    assert "needs a version next to it" in out.reason
    assert ALICE not in out.reason
    assert out.stdout == b""
    out = await attempt(server.url, start, protocols=[f"wsep.token.{ALICE}", "wsep.v1"])
    assert out.protocol == "wsep.v1"  # selected; the token entry is never echoed
    assert out.stdout == b"v1\n"


async def test_identity_reaches_the_handler(make_server: Any) -> None:
    """request[IDENTITY_KEY] holds the authenticated identity, hashable and comparable."""
    from wsep_server.auth import StaticTokenAuthenticator, auth_middleware
    from wsep_server.hooks import IDENTITY_KEY, Identity
    from wsep_server.policy.decision import StartDecision, StartRequest

    seen: list[Identity | None] = []

    class Recorder:
        async def decide(self, request: StartRequest) -> StartDecision:
            assert request.http is not None
            seen.append(request.http[IDENTITY_KEY])
            assert request.http[IDENTITY_KEY] is request.identity
            return StartDecision.allow()

    url = await make_server(
        policy=Recorder(),
        middlewares=[auth_middleware([StaticTokenAuthenticator(plain=TOKENS.items())])],
    )
    for _ in range(2):
        out = await attempt(url, start_message("/usr/bin/true"), params={"token": ALICE})
        assert out.exit is not None
    assert seen[0] is not None
    assert seen[0].name == "alice"
    assert seen[0].attributes["auth"] == "token"
    assert seen[0].attributes["via"] == "query"
    assert seen[0] == seen[1]
    assert len({seen[0], seen[1]}) == 1


async def test_access_log_never_shows_tokens(
    caplog: pytest.LogCaptureFixture, make_secure_server: MakeSecure
) -> None:
    from wsep_server import create_app
    from wsep_server.auth import ScrubbingAccessLogger, StaticTokenAuthenticator, auth_middleware

    app = create_app(
        log_connections=False,
        middlewares=[auth_middleware([StaticTokenAuthenticator(plain=TOKENS.items())])],
    )
    runner = web.AppRunner(app, handle_signals=False, access_log_class=ScrubbingAccessLogger,
                           access_log_format='%a "%r" %s "%{Sec-WebSocket-Protocol}i" '
                           '"%{Authorization}i" "%{Referer}i"')  # fmt: skip
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"ws://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            start = start_message("/usr/bin/true")
            await attempt(url, start, params={"token": ALICE})
            await attempt(url, start, params={"x": "1", "token": "wrong-0123456789abcdef"})
            await attempt(url, start, protocols=["wsep.v2", f"wsep.token.{ALICE}"])
            await attempt(
                url, start, headers={**auth(ALICE), "Referer": f"http://x/?token={ALICE}"}
            )

            def access_lines() -> list[str]:
                return [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]

            # A connection is logged once its handler has cleaned up (after the
            # client saw the close): wait for that, bounded, before shutting down.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while len(access_lines()) < 5 and loop.time() < deadline:
                await asyncio.sleep(0.02)
    finally:
        await runner.cleanup()
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 5, lines  # the refused one is asked twice (status, then body)
    text = "\n".join(lines)
    assert ALICE not in text
    assert "wrong-0123456789abcdef" not in text
    assert text.count("[redacted]") >= 5, text
    assert "token=[redacted]" in text
    assert "wsep.token.[redacted]" in text
    assert "Bearer [redacted]" in text


def test_scrub_filter_rewrites_any_record() -> None:
    from wsep_server.auth import ScrubFilter, scrub

    assert scrub("GET /?a=1&token=abc&b=2 HTTP/1.1") == "GET /?a=1&token=[redacted]&b=2 HTTP/1.1"
    assert scrub("GET /?TOKEN=abc") == "GET /?TOKEN=[redacted]"
    assert scrub("GET /%3Ftoken%3Dabc") == "GET /%3Ftoken%3D[redacted]"
    assert scrub("wsep.v2, wsep.token.abc.def") == "wsep.v2, wsep.token.[redacted]"
    assert scrub("Authorization: Basic Ym9iOnB3") == "Authorization: Basic [redacted]"
    assert scrub("nothing here") == "nothing here"
    record = logging.LogRecord("x", logging.INFO, "f", 1, "bad %s", ("?token=abc",), None)
    assert ScrubFilter().filter(record)
    assert record.getMessage() == "bad ?token=[redacted]"


@pytest.mark.parametrize(
    ("versions", "protocols"),
    [
        ("all", ["wsep.token.{t}"]),  # a browser sending only its token
        ("v1", ["wsep.v2", "wsep.token.{t}"]),  # a v1 server offered v2
        ("v1", ["wsep.v2"]),
        ("all", ["chat", "wsep.token.{t}"]),  # a stranger's entry
    ],
    ids=["token-only", "v1-server-token", "v1-server", "foreign"],
)
async def test_unanswerable_offers_are_refused_and_no_log_quotes_a_token(
    caplog: pytest.LogCaptureFixture,
    make_server: Any,
    versions: str,
    protocols: list[str],
) -> None:
    """An offer the server can select nothing from gets 400 before the upgrade (a 101
    without a subprotocol makes browsers abort); no log may show a token (embedders have
    no scrub filter), and aiohttp never gets to warn about the missing overlap."""
    from wsep_protocol import ProtocolVersion

    kwargs: dict[str, Any] = {}
    if versions == "v1":
        kwargs["versions"] = (ProtocolVersion.V1,)
    url = await make_server(**kwargs)
    offered = [p.format(t=ALICE) for p in protocols]
    with caplog.at_level(logging.DEBUG):
        out = await attempt(url, start_message("/usr/bin/true"), protocols=offered)
    assert out.status == 400
    assert out.exit is None
    assert ALICE not in out.reason
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert ALICE not in text
    assert not [r for r in caplog.records if "overlap" in r.getMessage()], text
