"""A page on another origin tries to make the web terminal run a command: through a
hidden iframe and through a link, with the command in the terminal's address. Nothing
may run until a person presses Run on the terminal's own page; no page may frame it.
"""

from __future__ import annotations

import html
import http.server
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.web import TOKEN, WAIT_MS, WebServer, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.once]


class AttackerSite:
    """A plain HTTP server on another loopback port serving one hostile page."""

    def __init__(self, page: str) -> None:
        body = page.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(30)


def hostile_urls(server: WebServer, marker: Path) -> dict[str, str]:
    """Terminal addresses whose parameters would create ``marker`` if anything ran them."""
    command = [("command", "sh"), ("arg", "-c"), ("arg", f"touch {marker}.command")]
    env = [("env", f"PROMPT_COMMAND=touch {marker}.env"), ("arg", "--norc")]
    return {
        name: f"{server.http_url}/?{urllib.parse.urlencode(params)}"
        for name, params in [("command", command), ("env", env)]
    }


@pytest.fixture
def attacker(web_server: WebServer, tmp_path: Path) -> Iterator[tuple[AttackerSite, Path]]:
    marker = tmp_path / "pwned"
    urls = hostile_urls(web_server, marker)
    frames = "".join(
        f'<iframe id="frame-{n}" src="{html.escape(u)}" style="width:1px;height:1px;border:0"'
        f' onload="window.loaded = (window.loaded || 0) + 1"></iframe>'
        for n, u in urls.items()
    )
    links = "".join(
        f'<a id="link-{n}" href="{html.escape(u)}" target="_blank">free prizes</a>'
        for n, u in urls.items()
    )
    site = AttackerSite(f"<!doctype html><title>prizes</title>{frames}{links}")
    try:
        yield site, marker
    finally:
        site.close()


def spawned(marker: Path) -> list[Path]:
    return sorted(marker.parent.glob(marker.name + ".*"))


def test_hidden_iframe_cannot_load_the_terminal(page: Any, attacker: Any) -> None:
    site, marker = attacker
    page.goto(site.url)
    page.wait_for_function("() => window.loaded === 2", timeout=WAIT_MS)
    for frame in page.frames:
        if frame is page.main_frame:
            continue
        # Chromium shows its own error page instead of the framed terminal.
        assert not frame.url.startswith("http://127.0.0.1"), frame.url
    assert spawned(marker) == []


@pytest.mark.parametrize("kind", ["command", "env"])
def test_link_from_another_site_waits_for_run(
    page: Any, attacker: Any, web_server: WebServer, kind: str
) -> None:
    site, marker = attacker
    page.goto(site.url)
    with page.context.expect_page() as opened:
        page.click(f"#link-{kind}")
    terminal = opened.value
    wait_state(terminal, "confirm")  # it looked for a session to reattach to: none
    assert terminal.is_visible("#confirm-run")
    shown = terminal.inner_text("#confirm")
    assert f"{marker}.{kind}" in shown, "the page shows what the link asks to run"
    assert spawned(marker) == [], "a link ran a command without the user's action"
    # The control: pressing Run is what runs it.
    terminal.click("#confirm-run")
    if kind == "command":
        terminal.wait_for_function(
            "() => ['exited', 'running'].includes(window.wsepApp.state)", timeout=WAIT_MS
        )
    else:
        wait_state(terminal, "running")
    deadline = time.monotonic() + WAIT_MS / 1000
    while not spawned(marker) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the file the command creates
    assert [p.name for p in spawned(marker)] == [f"pwned.{kind}"]


def test_every_answer_forbids_framing(web_server: WebServer) -> None:
    base = web_server.http_url
    requests = [
        urllib.request.Request(base + path)
        for path in ("/", "/?command=id", "/sessions", "/static/wsep.js", "/healthz", "/nope")
    ]
    requests.append(urllib.request.Request(base + "/api/check", method="POST", data=b""))
    for request in requests:
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                headers = resp.headers
        except urllib.error.HTTPError as exc:
            headers = exc.headers
        assert headers["X-Frame-Options"] == "DENY", request.full_url
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp, request.full_url
        assert "default-src 'self'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_without_parameters_the_default_command_starts_at_once(
    page: Any, web_server: WebServer
) -> None:
    """The ttyd behaviour, kept on purpose: nothing in the address chose what runs."""
    page.goto(web_server.http_url + "/")
    wait_state(page, "running")
    assert page.inner_text("#status-text").startswith("running bash ")
    assert page.is_hidden("#confirm")
    page.keyboard.type("exit")
    page.keyboard.press("Enter")
    wait_state(page, "exited")


def test_token_from_a_link_waits_for_run(page: Any, token_server: WebServer) -> None:
    """A link can carry someone else's token (who could then watch the session): the page
    says whom it would run as and waits, even for the default command."""
    page.goto(f"{token_server.http_url}/?token={TOKEN}")
    wait_state(page, "confirm")
    assert page.inner_text("#confirm-identity") == "as token"  # WSEP_TOKEN's identity
    assert page.evaluate("() => window.wsepApp.proc") is None
    assert TOKEN not in page.url
    page.click("#confirm-run")
    wait_state(page, "running")
    page.reload()  # this tab confirmed it: a reload reattaches without asking
    wait_state(page, "running")
