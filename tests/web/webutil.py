"""Shared by the browser tests: the server handle and what the test terminal runs."""

from __future__ import annotations

import subprocess
import urllib.parse
from dataclasses import dataclass
from typing import Any

__all__ = ["PROMPT", "SHELL_PARAMS", "TOKEN", "WAIT_MS", "WebServer", "confirm_run", "wait_state"]

#: What every test terminal runs: a bash without rc files, a known prompt, no history file.
PROMPT = "wsep$ "
SHELL_PARAMS: list[tuple[str, str]] = [
    ("command", "bash"),
    ("arg", "--norc"),
    ("arg", "--noprofile"),
    ("env", f"PS1={PROMPT}"),
    ("env", "HISTFILE="),
]
#: The bearer token of the ``token_server`` fixture.
TOKEN = "browser-test-token.0123456789"
#: Generous upper bound for anything the page has to show.
WAIT_MS = 20_000


@dataclass
class WebServer:
    proc: subprocess.Popen[bytes]
    http_url: str

    def page_url(self, params: list[tuple[str, str]] | None = None) -> str:
        query = urllib.parse.urlencode(SHELL_PARAMS if params is None else params)
        return f"{self.http_url}/?{query}"


def wait_state(page: Any, state: str) -> None:
    page.wait_for_function(
        "(s) => window.wsepApp && window.wsepApp.state === s", arg=state, timeout=WAIT_MS
    )


def confirm_run(page: Any) -> None:
    """Press Run: a command from the address never starts without it."""
    wait_state(page, "confirm")
    page.click("#confirm-run")
