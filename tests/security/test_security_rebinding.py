"""DNS rebinding: a page whose name points at 127.0.0.1 must not reach the server.

The default server (loopback, here without authentication: the worst case)
answers only requests whose ``Host`` is an address, ``localhost`` or a name
it was given with ``--allowed-host``; the attacker's name gets 403 before the
upgrade, from a raw socket and from a real Chromium alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from support.security import attempt, raw_http, start_message, upgrade_head
from support.wire import port_of

CHROMIUM = os.environ.get("WSEP_CHROMIUM", "/usr/bin/chromium")


async def test_rebinding_host_is_refused_before_the_upgrade(
    no_leaked_children: None, start_server_process: Callable[..., Any]
) -> None:
    srv = start_server_process()
    port = port_of(srv.url)
    evil = f"attacker.example:{port}"
    status, head = await raw_http(port, upgrade_head("/", evil, Origin=f"http://{evil}"))
    assert status == 403, head
    assert "host not allowed: attacker.example" in head
    # The same through a WebSocket client: refused, nothing runs.
    out = await attempt(
        srv.url,
        start_message("id"),
        headers={"Host": evil, "Origin": f"http://{evil}"},
    )
    assert out.status == 403
    assert "--allowed-host attacker.example" in out.reason
    assert b"uid=" not in out.stdout
    # The names the server is meant to be reached by still work.
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST.:{port}"):
        status, head = await raw_http(port, upgrade_head("/", host, Origin=f"http://{host}"))
        assert status == 101, (host, head)


@pytest.mark.once  # end to end through real server processes: one interpreter is enough
async def test_allowed_host_adds_a_name_and_star_turns_the_check_off(
    no_leaked_children: None, start_server_process: Callable[..., Any]
) -> None:
    srv = start_server_process("--allowed-host", "wsep.example", env={"WSEP_ALLOWED_HOSTS": ""})
    port = port_of(srv.url)
    ok = await attempt(srv.url, start_message("echo", "named"), headers={"Host": "wsep.example"})
    assert ok.stdout == b"named\n"
    for host in ("attacker.example", "wsep.example.attacker.example", "sub.wsep.example"):
        status, _ = await raw_http(port, upgrade_head("/", f"{host}:{port}"))
        assert status == 403, host
    star = start_server_process(env={"WSEP_ALLOWED_HOSTS": "*"})
    status, _ = await raw_http(port_of(star.url), upgrade_head("/", "attacker.example"))
    assert status == 101


def test_host_names_are_parsed_strictly() -> None:
    from wsep_server.auth.host import host_allowed

    allowed = frozenset({"wsep.example", ".corp.example"})
    assert host_allowed("[::1]:8080", allowed)
    assert host_allowed("10.1.2.3", allowed)
    assert host_allowed("app.localhost:3000", allowed)
    assert host_allowed("WSEP.example.:443", allowed)
    assert host_allowed("a.b.corp.example", allowed)
    assert host_allowed("corp.example", allowed)
    assert not host_allowed("evilcorp.example", allowed)
    assert not host_allowed("localhost.attacker.example", allowed)
    assert not host_allowed("127.0.0.1.attacker.example", allowed)
    assert not host_allowed("", allowed)
    assert host_allowed(None, allowed)  # no Host at all: not a browser


_ATTACK_PAGE = """<!doctype html><title>cute cats</title><script>
window.result = new Promise((resolve) => {
  const out = {opened: false, output: "", closed: null};
  let ws;
  try { ws = new WebSocket("ws://" + location.host + "/"); }
  catch (e) { out.closed = "threw " + e; resolve(out); return; }
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    out.opened = true;
    ws.send(JSON.stringify(%s));
  };
  ws.onmessage = (ev) => {
    const data = typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data);
    out.output += data.slice(data.indexOf("\\n") + 1);
  };
  ws.onclose = (ev) => { out.closed = ev.code; resolve(out); };
});
</script>"""


@pytest.mark.once
@pytest.mark.browser
def test_chromium_page_on_a_rebound_name_cannot_run_commands(
    no_leaked_children: None, start_server_process: Callable[..., Any]
) -> None:
    if not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)):
        if os.environ.get("CI"):
            raise AssertionError(f"{CHROMIUM} is missing on CI")
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    srv = start_server_process()
    port = port_of(srv.url)
    start = json.loads(start_message("id"))
    page_url = f"http://attacker.example:{port}/"
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        # The rebinding: the attacker's name now resolves to this machine.
        "--host-resolver-rules=MAP attacker.example 127.0.0.1",
        # Chromium 14x+ also asks the user before a public page reaches a local
        # address (Local Network Access); other browsers, older ones and a user
        # who clicks "allow" do not stop it: the server must.
        "--disable-features=LocalNetworkAccessChecks",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page()
            # The attacker's page, as it was served before the name was re-pointed.
            page.route(
                page_url,
                lambda route: route.fulfill(
                    status=200, content_type="text/html", body=_ATTACK_PAGE % json.dumps(start)
                ),
            )
            page.goto(page_url)
            result = page.evaluate("window.result", None)
        finally:
            browser.close()
    assert "uid=" not in result["output"], result
    assert result["opened"] is False, result
    # And the server refused it for its Host: the reason is in its log.
    srv.stop()
    assert "host not allowed: attacker.example" in srv.output()


async def test_healthz_tells_liveness_only(
    no_leaked_children: None, start_server_process: Callable[..., Any]
) -> None:
    srv = start_server_process(env={"WSEP_TOKEN": "health-token-0123456789abcdef"})
    port = port_of(srv.url)
    status, _ = await raw_http(port, f"GET /healthz HTTP/1.1\nHost: 127.0.0.1:{port}")
    assert status == 200
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(4096), 30)
    writer.close()
    body = data.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body) == {"status": "ok"}


async def test_an_embedded_app_gets_the_host_check_from_security_middlewares(
    make_server: Any,
) -> None:
    from wsep_server.auth import StaticTokenAuthenticator, security_middlewares

    auth = StaticTokenAuthenticator(plain=[("alice", "embedded-token-0123456789")])
    middlewares = security_middlewares([auth], allowed_hosts=("app.example",))
    url = await make_server(middlewares=middlewares)
    port = port_of(url)
    status, head = await raw_http(port, upgrade_head("/", f"attacker.example:{port}"))
    assert status == 403, head
    status, head = await raw_http(port, upgrade_head("/", "app.example"))
    assert status == 401, head  # past the Host check, on to authentication
