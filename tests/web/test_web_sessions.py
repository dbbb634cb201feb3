"""The session list page (``/sessions``) and read-only observing, in Chromium: each
identity sees only its own sessions, can attach, observe and end them. Also takes the
README's screenshots of the terminal and of the session list."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import REPO
from support.web import (
    PROMPT,
    WAIT_MS,
    WebServer,
    open_shell,
    start_web_server,
    stop_web_server,
    wait_state,
)

pytestmark = [pytest.mark.browser, pytest.mark.once]

ALICE = "alice-token.0123456789abcdef"
BOB = "bob-token.0123456789abcdef"
DOCS = REPO / "packages" / "wsep-server" / "docs"


@pytest.fixture
def two_user_server(tmp_path: Path) -> Iterator[WebServer]:
    tokens = tmp_path / "tokens"
    tokens.write_text(
        "".join(
            f"{name} sha256:{hashlib.sha256(tok.encode()).hexdigest()}\n"
            for name, tok in (("alice", ALICE), ("bob", BOB))
        )
    )
    tokens.chmod(0o600)
    server = start_web_server(tmp_path, "--token-file", str(tokens))
    try:
        yield server
    finally:
        stop_web_server(server)


def open_session(page: Any, server: WebServer, token: str, extra: list[tuple[str, str]]) -> str:
    """A shell of ``token``'s user; returns its session id."""
    open_shell(page, server, [*extra, ("token", token)])
    return str(page.evaluate("() => window.wsepApp.sessionId"))


def listed(page: Any) -> list[str]:
    page.wait_for_function(
        "() => window.wsepSessions && window.wsepSessions.state === 'ready'", timeout=WAIT_MS
    )
    return list(
        page.eval_on_selector_all("#sessions tbody tr", "rows => rows.map(r => r.dataset.id)")
    )


def test_session_list_is_scoped_and_can_observe_and_end(
    browser: Any, two_user_server: WebServer
) -> None:
    server = two_user_server
    alice = browser.new_context(viewport={"width": 900, "height": 480})
    bob = browser.new_context(viewport={"width": 900, "height": 480})
    try:
        a_page = alice.new_page()
        a1 = open_session(a_page, server, ALICE, [("env", "WHO=a1")])
        a_page2 = alice.new_page()
        a2 = open_session(a_page2, server, ALICE, [("env", "WHO=a2")])
        b_page = bob.new_page()
        b1 = open_session(b_page, server, BOB, [])

        listing = alice.new_page()
        listing.goto(f"{server.http_url}/sessions")
        wait_for = "() => window.wsepSessions && window.wsepSessions.state === 'token'"
        listing.wait_for_function(wait_for, timeout=WAIT_MS)  # a new tab: no token yet
        listing.fill("#token-input", ALICE)
        listing.press("#token-input", "Enter")
        assert sorted(listed(listing)) == sorted([a1, a2])
        assert b1 not in listed(listing)
        assert "of alice" in listing.inner_text("h1")
        row = listing.inner_text(f"#sessions tr[data-id='{a1}']")
        assert "bash --norc --noprofile" in row
        assert "running" in row

        # Observe a1 read-only: output arrives, typing does not reach the shell.
        listing.click(f"#sessions tr[data-id='{a1}'] a.observe")
        listing.wait_for_load_state()
        wait_state(listing, "running")
        assert listing.evaluate("() => window.wsepApp.proc.readOnly") is True
        assert "observing" in listing.inner_text("#status-text")
        a_page.keyboard.type("echo seen-by-observer-$((6*7))")
        a_page.keyboard.press("Enter")
        listing.wait_for_function(
            "() => document.querySelector('.xterm-rows').innerText.includes('seen-by-observer-42')",
            timeout=WAIT_MS,
        )
        listing.keyboard.type("echo typed-by-observer")
        listing.keyboard.press("Enter")
        a_page.keyboard.type("echo after")
        a_page.keyboard.press("Enter")
        a_page.wait_for_function(
            "() => document.querySelector('.xterm-rows').innerText.includes('after')",
            timeout=WAIT_MS,
        )
        assert "typed-by-observer" not in a_page.inner_text(".xterm-rows")
        assert listing.evaluate("() => window.wsepApp.state") == "running"

        # End a2 from the list: its terminal sees the end, the list no longer has it.
        listing.goto(f"{server.http_url}/sessions")
        assert a2 in listed(listing)
        listing.click(f"#sessions tr[data-id='{a2}'] button.end")
        listing.wait_for_function(
            "(id) => window.wsepSessions.state === 'ready' &&"
            " !window.wsepSessions.sessions.some((s) => s.id === id)",
            arg=a2,
            timeout=WAIT_MS,
        )
        wait_state(a_page2, "exited")
        assert a1 in listed(listing)
    finally:
        alice.close()
        bob.close()


@pytest.mark.skipif(not os.environ.get("WSEP_SCREENSHOTS"), reason="WSEP_SCREENSHOTS=1 to retake")
def test_readme_screenshots(browser: Any, two_user_server: WebServer) -> None:
    """The README's pictures, from the real page (WSEP_SCREENSHOTS=1 to retake them)."""
    DOCS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 720, "height": 300})
    try:
        page = context.new_page()
        open_session(page, two_user_server, ALICE, [])
        page.keyboard.type("printf '%s\\n' container_info.json; ls /usr/share | head -4")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "(p) => { const b = window.wsepApp.term.buffer.active;"
            " return b.cursorY > 2 &&"
            " b.getLine(b.baseY + b.cursorY).translateToString(true).trimEnd() === p; }",
            arg=PROMPT.rstrip(),
            timeout=WAIT_MS,
        )
        other = context.new_page()
        open_session(other, two_user_server, ALICE, [("arg", "-i")])
        page.screenshot(path=str(DOCS / "terminal.png"))
        listing = context.new_page()
        listing.goto(f"{two_user_server.http_url}/sessions?token={ALICE}")
        listed(listing)
        listing.set_viewport_size({"width": 1080, "height": 220})
        listing.screenshot(path=str(DOCS / "sessions.png"))
    finally:
        context.close()
