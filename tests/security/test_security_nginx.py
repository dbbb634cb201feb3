"""A real nginx (deploy/nginx/wsep.conf) in front of wsep-server: TLS, WebSocket upgrade."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.nginx import NGINX, Nginx, nginx_in_front
from support.security import attempt, start_message

pytestmark = pytest.mark.nginx

TOKEN = "nginx-test-token-0123456789abcdef"


@pytest.fixture
def nginx(tmp_path: Path, start_server_process: Callable[..., Any]) -> Iterator[Nginx]:
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian package nginx-light; .ci/run installs it)")
    srv = start_server_process(
        "--trusted-proxy", "127.0.0.1", "--log-level", "warning", env={"WSEP_TOKEN": TOKEN}
    )
    try:
        with nginx_in_front(tmp_path, int(srv.http_url.rsplit(":", 1)[1])) as front:
            yield front
    finally:
        srv.stop()


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


async def test_commands_through_nginx(nginx: Nginx) -> None:
    through = functools.partial(attempt, nginx.url, ssl_context=nginx.ctx)
    out = await through(
        start_message("/usr/bin/echo", "through nginx"),
        headers=_auth(),
    )
    assert out.stdout == b"through nginx\n", out
    assert out.exit is not None
    assert out.exit["exit_code"] == 0
    # stdin both ways, v2 negotiated through the proxy, 1 MiB each way
    data = os.urandom(1 << 20)
    out = await through(
        start_message("/usr/bin/cat", stdin=True),
        headers=_auth(),
        protocols=["wsep.v2"],
        stdin=data,
    )
    assert out.protocol == "wsep.v2"
    assert out.stdout == data
    # a TTY session
    out = await through(start_message("/usr/bin/tty", tty=True), headers=_auth())
    assert out.stdout.startswith(b"/dev/pts/"), out
    # a non-zero exit comes back as such
    out = await through(start_message("/usr/bin/env", "false"), headers=_auth())
    assert out.exit is not None
    assert out.exit["exit_code"] == 1


async def test_browser_style_through_nginx(nginx: Nginx) -> None:
    """Token in the query and a same-origin Origin: accepted; the token is not logged."""
    through = functools.partial(attempt, nginx.url, ssl_context=nginx.ctx)
    origin = nginx.url.replace("wss://", "https://").rstrip("/")
    out = await through(
        start_message("/usr/bin/echo", "browser"),
        params={"token": TOKEN},
        headers={"Origin": origin},
    )
    assert out.stdout == b"browser\n", out
    out = await through(
        start_message("/usr/bin/echo", "subprotocol"),
        protocols=["wsep.v2", f"wsep.token.{TOKEN}"],
        headers={"Origin": origin},
    )
    assert out.stdout == b"subprotocol\n", out
    out = await through(
        start_message("/usr/bin/echo", "evil"),
        params={"token": TOKEN},
        headers={"Origin": "https://evil.example"},
    )
    assert out.status == 403
    # nginx writes its access log line when the connection ends; the WebSocket ones
    # are done by now (the client closed), the refused one too.
    log = nginx.logs / "wsep.access.log"
    for _ in range(300):
        if log.exists() and log.read_text().count("\n") >= 3:
            break
        await asyncio.sleep(0.01)
    text = log.read_text()
    assert "GET / HTTP/1.1" in text
    assert TOKEN not in text


async def test_refusals_through_nginx(nginx: Nginx) -> None:
    through = functools.partial(attempt, nginx.url, ssl_context=nginx.ctx)
    out = await through(start_message("/usr/bin/echo", "x"))
    assert out.status == 401
    assert "authentication required" in out.reason
    # nginx strips a client's own user header, so it cannot impersonate through the proxy
    out = await through(
        start_message("/usr/bin/echo", "x"),
        headers={"X-Remote-User": "root"},
    )
    assert out.status == 401
    # plain HTTP to the TLS port is refused by nginx
    plain = nginx.url.replace("wss://", "ws://")
    out = await attempt(plain, start_message("/usr/bin/echo", "x"), headers=_auth())
    assert out.status == 400
