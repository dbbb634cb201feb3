"""A real nginx (deploy/nginx/wsep.conf) in front of wsep-server: TLS, WebSocket upgrade."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from support import REPO
from support.security import RUNNING_AS_ROOT, attempt, start_message

pytestmark = pytest.mark.nginx

SITE = REPO / "deploy" / "nginx" / "wsep.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
TOKEN = "nginx-test-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def render_site(upstream_port: int, listen_port: int, cert: Path, key: Path, logs: Path) -> str:
    """The deploy site with this test's ports, certificate and log paths; no port 80."""
    site = SITE.read_text(encoding="utf-8")
    site = site.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};")
    site = site.replace("    listen 443 ssl;\n", f"    listen 127.0.0.1:{listen_port} ssl;\n")
    site = site.replace("    listen [::]:443 ssl;\n", "")
    site = site.replace("/etc/ssl/certs/wsep.example.org.pem", str(cert))
    site = site.replace("/etc/ssl/private/wsep.example.org.key", str(key))
    site = site.replace("/var/log/nginx/", f"{logs}/")
    site = site.replace("shared:wsep_ssl:10m", "shared:wsep_ssl:1m")
    # the plain-HTTP redirect server is not needed here (it would want port 80)
    site = re.sub(r"\nserver \{\n    listen 80;.*?\n\}\n", "\n", site, flags=re.DOTALL)
    assert f"127.0.0.1:{listen_port} ssl" in site
    assert "listen 80" not in site
    return site


@dataclass
class Nginx:
    url: str
    ctx: ssl.SSLContext
    logs: Path
    proc: subprocess.Popen[bytes]


@pytest.fixture
def nginx(tmp_path: Path, start_server_process: Callable[..., Any]) -> Iterator[Nginx]:
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian package nginx-light; .ci/run installs it)")
    srv = start_server_process(
        "--trusted-proxy", "127.0.0.1", "--log-level", "warning", env={"WSEP_TOKEN": TOKEN}
    )
    upstream_port = int(srv.http_url.rsplit(":", 1)[1])
    ca = trustme.CA()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    for extra in leaf.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    leaf.private_key_pem.write_to_path(str(key))
    logs = tmp_path / "logs"
    logs.mkdir()
    port = _free_port()
    (tmp_path / "wsep.conf").write_text(render_site(upstream_port, port, cert, key, logs))
    temp = tmp_path / "temp"
    temp.mkdir()
    user = "user root root;\n" if RUNNING_AS_ROOT else ""
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"""{user}daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {logs}/error.log info;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {tmp_path}/wsep.conf;
}}
"""
    )
    test = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-e", str(logs / "error.log"), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert test.returncode == 0, test.stderr
    proc = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-e", str(logs / "error.log"), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, proc)
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        yield Nginx(f"wss://127.0.0.1:{port}/", ctx, logs, proc)
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful stop: workers finish, master exits
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        srv.stop()


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    import time

    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"nginx exited with {proc.returncode}: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


async def test_commands_through_nginx(nginx: Nginx) -> None:
    out = await attempt(
        nginx.url,
        start_message("/usr/bin/echo", "through nginx"),
        headers=_auth(),
        ssl_context=nginx.ctx,
    )
    assert out.stdout == b"through nginx\n", out
    assert out.exit is not None
    assert out.exit["exit_code"] == 0
    # stdin both ways, v2 negotiated through the proxy, 1 MiB each way
    data = os.urandom(1 << 20)
    out = await attempt(
        nginx.url,
        start_message("/usr/bin/cat", stdin=True),
        headers=_auth(),
        protocols=["wsep.v2"],
        ssl_context=nginx.ctx,
        stdin=data,
    )
    assert out.protocol == "wsep.v2"
    assert out.stdout == data
    # a TTY session
    out = await attempt(
        nginx.url, start_message("/usr/bin/tty", tty=True), headers=_auth(), ssl_context=nginx.ctx
    )
    assert out.stdout.startswith(b"/dev/pts/"), out
    # a non-zero exit comes back as such
    out = await attempt(
        nginx.url, start_message("/usr/bin/env", "false"), headers=_auth(), ssl_context=nginx.ctx
    )
    assert out.exit is not None
    assert out.exit["exit_code"] == 1


async def test_browser_style_through_nginx(nginx: Nginx) -> None:
    """Token in the query and a same-origin Origin: accepted; the token is not logged."""
    origin = nginx.url.replace("wss://", "https://").rstrip("/")
    out = await attempt(
        nginx.url,
        start_message("/usr/bin/echo", "browser"),
        params={"token": TOKEN},
        headers={"Origin": origin},
        ssl_context=nginx.ctx,
    )
    assert out.stdout == b"browser\n", out
    out = await attempt(
        nginx.url,
        start_message("/usr/bin/echo", "subprotocol"),
        protocols=["wsep.v2", f"wsep.token.{TOKEN}"],
        headers={"Origin": origin},
        ssl_context=nginx.ctx,
    )
    assert out.stdout == b"subprotocol\n", out
    out = await attempt(
        nginx.url,
        start_message("/usr/bin/echo", "evil"),
        params={"token": TOKEN},
        headers={"Origin": "https://evil.example"},
        ssl_context=nginx.ctx,
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
    out = await attempt(nginx.url, start_message("/usr/bin/echo", "x"), ssl_context=nginx.ctx)
    assert out.status == 401
    assert "authentication required" in out.reason
    # nginx strips a client's own user header, so it cannot impersonate through the proxy
    out = await attempt(
        nginx.url,
        start_message("/usr/bin/echo", "x"),
        headers={"X-Remote-User": "root"},
        ssl_context=nginx.ctx,
    )
    assert out.status == 401
    # plain HTTP to the TLS port is refused by nginx
    plain = nginx.url.replace("wss://", "ws://")
    out = await attempt(plain, start_message("/usr/bin/echo", "x"), headers=_auth())
    assert out.status == 400
