"""Every subprotocol offer a browser can make, in Chromium, against v1-only, v2-only and
both-version servers: a working handshake that runs a command, or an HTTP 400 before
the upgrade whose reason a client can read (never a 101 the browser aborts).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from support.web import WAIT_MS

pytestmark = [pytest.mark.browser, pytest.mark.once]

TOKEN = "matrix-token.0123456789"
SERVERS = {"v1": (1,), "v2": (2,), "both": (1, 2)}
T = f"wsep.token.{TOKEN}"
#: offer -> {server: protocol version it gets, or None for a refusal}
OFFERS: dict[str, tuple[list[str], dict[str, int | None]]] = {
    "none": ([], {"v1": 1, "v2": None, "both": 1}),
    "v1+token": (["wsep.v1", T], {"v1": 1, "v2": None, "both": 1}),
    "v2": (["wsep.v2"], {"v1": None, "v2": 2, "both": 2}),
    "v2+token": (["wsep.v2", T], {"v1": None, "v2": 2, "both": 2}),
    "v2+v1+token": (["wsep.v2", "wsep.v1", T], {"v1": 1, "v2": 2, "both": 2}),
    "token only": ([T], {"v1": None, "v2": None, "both": None}),
    "unknown names": (["chat", "x.y"], {"v1": None, "v2": None, "both": None}),
}

RAW_OFFER = """async ([url, offer]) => {
  const { Connection } = await import("/static/wsep.js");
  const ws = new WebSocket(url, offer);
  ws.binaryType = "arraybuffer";
  const opened = await new Promise((resolve) => {
    ws.onopen = () => resolve(true);
    ws.onclose = (ev) => resolve(ev.code);
  });
  if (opened !== true) return { opened: false, closeCode: opened };
  const conn = new Connection(ws);
  let out = "";
  const proc = await conn.start(
    { command: "echo", args: ["ran", offer.join("|")] },
    { encoding: "utf-8", onStdout: (t) => { out += t; } },
  );
  const status = await proc.exited;
  return { opened: true, protocol: ws.protocol, version: conn.version, out, exit: status.exitCode };
}"""

SDK_CONNECT = """async ([url, versions, token]) => {
  const { exec } = await import("/static/wsep.js");
  try {
    let out = "";
    const proc = await exec(url, { command: "echo", args: ["sdk"] }, {
      versions, token, encoding: "utf-8", onStdout: (t) => { out += t; },
    });
    const status = await proc.exited;
    return { ok: true, version: proc.version, out, exit: status.exitCode };
  } catch (err) {
    return { ok: false, code: err.code, closeCode: err.closeCode };
  }
}"""


class Servers:
    """Three wsep servers (with ``--web`` routes) in one event loop on a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: list[Any] = []
        self.urls: dict[str, str] = {}

    def start(self) -> None:
        self.thread.start()
        for name, versions in SERVERS.items():
            fut = asyncio.run_coroutine_threadsafe(self._serve(versions), self.loop)
            self.urls[name] = fut.result(60)

    async def _serve(self, versions: tuple[int, ...]) -> str:
        from aiohttp import web
        from wsep_protocol import ProtocolVersion
        from wsep_server import create_app
        from wsep_server.auth import StaticTokenAuthenticator, security_middlewares
        from wsep_server.local import LocalExecer
        from wsep_server.web import add_web_routes

        app = create_app(
            execer=LocalExecer(grace_period=2.0),
            versions=[ProtocolVersion(v) for v in versions],
            middlewares=security_middlewares(
                [StaticTokenAuthenticator(plain=[("alice", TOKEN)])],
                allow_anonymous=True,
            ),
            log_connections=False,
        )
        add_web_routes(app)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=10.0)
        await runner.setup()
        self.runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    def stop(self) -> None:
        async def cleanup() -> None:
            for runner in self.runners:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    srv = Servers()
    srv.start()
    try:
        yield srv.urls
    finally:
        srv.stop()


def http_refusal(url: str, offer: list[str]) -> tuple[int, str]:
    """What the server answers the same handshake outside a browser (which hides it)."""
    host, port = url.removeprefix("http://").split(":")
    lines = [
        "GET / HTTP/1.1",
        f"Host: {host}:{port}",
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]
    if offer:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(offer))
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    status_line, *headers = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    reason = ""
    for line in headers:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-wsep-error":
            reason = value.strip()
    return int(status_line.split()[1]), reason


@pytest.mark.parametrize("server", list(SERVERS))
def test_every_offer_handshakes_or_is_refused_in_http(
    page: Any, servers: dict[str, str], server: str
) -> None:
    base = servers[server]
    page.goto(base + "/healthz")  # a page of the server's origin
    ws_url = base.replace("http://", "ws://") + "/"
    for name, (offer, expected) in OFFERS.items():
        want = expected[server]
        got = page.evaluate(RAW_OFFER, [ws_url, offer])
        if want is None:
            assert got == {"opened": False, "closeCode": 1006}, (name, got)
            status, reason = http_refusal(base, offer)
            assert status == 400, (name, status)
            assert "offer wsep.v" in reason or "speaks only wsep.v2" in reason, (name, reason)
            assert TOKEN not in reason
        else:
            assert got["opened"], (name, got)
            assert got["version"] == want, (name, got)
            assert got["out"] == f"ran {'|'.join(offer)}\n", (name, got)
            assert got["exit"] == 0
            assert TOKEN not in got["protocol"], "the token is never echoed"
            assert got["protocol"] == ("" if not offer else f"wsep.v{want}"), (name, got)


@pytest.mark.parametrize("server", list(SERVERS))
def test_wsep_js_connects_for_every_versions_setting(
    page: Any, servers: dict[str, str], server: str
) -> None:
    base = servers[server]
    page.goto(base + "/healthz")
    page.set_default_timeout(WAIT_MS)
    ws_url = base.replace("http://", "ws://") + "/"
    speaks = SERVERS[server]
    for versions in ([1], [2], [1, 2]):
        for token in (None, TOKEN):
            got = page.evaluate(SDK_CONNECT, [ws_url, versions, token])
            common = sorted(set(versions) & set(speaks))
            if not common:
                assert got == {"ok": False, "code": "connect_failed", "closeCode": 1006}, (
                    versions,
                    token,
                    got,
                )
                continue
            assert got == {"ok": True, "version": common[-1], "out": "sdk\n", "exit": 0}, (
                versions,
                token,
            )
