"""``--web``: the page and assets over plain HTTP, beside the WebSocket endpoint on ``/``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from wsep_protocol import SUBPROTOCOL_V2, Command, Flow, Start, encode
from wsep_server import create_app
from wsep_server.web import VENDOR_FILES, WebAssetsMissing, add_web_routes, find_vendor_dir

TIMEOUT = 30.0


def web_app(**kwargs: Any) -> web.Application:
    app = create_app(**kwargs)
    add_web_routes(app, wsep_path=kwargs.get("path", "/"))
    return app


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_page_and_assets(make_server: Any, http: aiohttp.ClientSession) -> None:
    url = await make_server(app_factory=web_app)
    base = url.replace("ws://", "http://").rstrip("/")
    async with http.get(base + "/") as r:
        assert r.status == 200
        assert r.content_type == "text/html"
        page = await r.text()
    assert '<meta name="wsep-path" content="/">' in page
    assert 'src="static/terminal.js"' in page
    for path, kind in [
        ("/static/wsep.js", "text/javascript"),
        ("/static/terminal.js", "text/javascript"),
        ("/static/terminal.css", "text/css"),
        ("/static/messages.js", "text/javascript"),
        ("/static/sessions.js", "text/javascript"),
        ("/sessions", "text/html"),
        ("/static/vendor/xterm.mjs", "text/javascript"),
        ("/static/vendor/addon-fit.mjs", "text/javascript"),
        ("/static/vendor/xterm.css", "text/css"),
    ]:
        async with http.get(base + path) as r:
            assert r.status == 200, path
            assert r.content_type == kind, path
    async with http.head(base + "/static/wsep.js") as r:
        assert r.status == 200
    for missing in ("/static/nope.js", "/static/../web/__init__.py", "/static/vendor/LICENSE"):
        async with http.get(base + missing) as r:
            assert r.status == 404, missing
    async with http.get(base + "/healthz") as r:  # the app's own routes still answer
        assert r.status == 200


async def test_websocket_on_the_same_path_still_runs_commands(
    make_server: Any, http: aiohttp.ClientSession
) -> None:
    url = await make_server(app_factory=web_app)
    async with http.ws_connect(url, protocols=(SUBPROTOCOL_V2,)) as ws:
        await ws.send_bytes(encode(Start(Command("echo", ("hi",)))))
        await ws.send_bytes(encode(Flow(1024)))
        output = b""
        while True:
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            head, _, body = bytes(msg.data).partition(b"\n")
            if b'"exit_code"' in head:
                break
            if head == b'{"type":"stdout"}':
                output += body
    assert output == b"hi\n"


async def test_endpoint_elsewhere(make_server: Any, http: aiohttp.ClientSession) -> None:
    url = await make_server(app_factory=web_app, path="/wsep")
    base = url.replace("ws://", "http://").rsplit("/", 1)[0]
    async with http.get(base + "/") as r:
        assert '<meta name="wsep-path" content="/wsep">' in await r.text()


def test_missing_assets_are_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    found = find_vendor_dir()
    assert all((found / rel).is_file() for rel in VENDOR_FILES.values())
    monkeypatch.setenv("WSEP_WEB_VENDOR", str(found))
    assert find_vendor_dir() == found
    monkeypatch.setattr("wsep_server.web._candidates", lambda: [tmp_path])
    with pytest.raises(WebAssetsMissing, match="npm ci"):
        add_web_routes(web.Application())


def test_cli_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsep_server.cli import parse_args

    assert parse_args([]).web is False
    assert parse_args(["--web"]).web is True
    monkeypatch.setenv("WSEP_WEB", "1")
    assert parse_args([]).web is True


async def test_check_passes_the_same_checks_as_the_websocket(
    make_server: Any, http: aiohttp.ClientSession
) -> None:
    """POST /api/check: 200 and who, or the WebSocket's own 401/403 and reason; no spawn."""
    from wsep_server.auth import StaticTokenAuthenticator, security_middlewares

    token = "check-token.0123456789"
    url = await make_server(
        app_factory=web_app,
        middlewares=security_middlewares([StaticTokenAuthenticator(plain=[("alice", token)])]),
    )
    base = url.replace("ws://", "http://").rstrip("/")
    same = {"Origin": base}
    bearer = {"Authorization": f"Bearer {token}"}
    async with http.post(base + "/api/check", headers={**same, **bearer}) as r:
        assert r.status == 200
        body = await r.json()
    assert body["identity"] == "alice"
    assert body["versions"] == [1, 2]
    assert body["host"]
    async with http.post(base + "/api/check", params={"token": token}) as r:
        assert r.status == 200
    async with http.post(base + "/api/check", headers=same) as r:
        assert r.status == 401
        assert r.headers["X-Wsep-Error"] == "authentication required"
    wrong = {"Authorization": "Bearer wrong-token-0123456789"}
    async with http.post(base + "/api/check", headers={**same, **wrong}) as r:
        assert r.status == 401
    foreign = {"Origin": "http://attacker.example", **bearer}
    async with http.post(base + "/api/check", headers=foreign) as r:
        assert r.status == 403
        assert r.headers["X-Wsep-Error"].startswith("origin not allowed")
    async with http.get(base + "/api/check", headers=bearer) as r:
        assert r.status == 405  # a POST only: browsers send Origin with it


def test_web_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsep_server.cli import parse_args

    opts = parse_args(["--web-font-size", "18", "--web-theme", "light", "--web-command", "zsh"])
    assert (opts.web_options.font_size, opts.web_options.theme) == (18, "light")
    assert opts.web_options.command == "zsh"
    monkeypatch.setenv("WSEP_WEB_FONT_FAMILY", "Iosevka")
    assert parse_args([]).web_options.font_family == "Iosevka"
    with pytest.raises(SystemExit):
        parse_args(["--web-font-size", "500"])
    with pytest.raises(SystemExit):
        parse_args(["--web-theme", "pink"])
