"""Shared by the browser tests: the server handle and what the test terminal runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.proc import stop_process

__all__ = [
    "CURSOR_LINE",
    "PROMPT",
    "RENDERED",
    "SHELL_PARAMS",
    "TOKEN",
    "WAIT_MS",
    "WebServer",
    "confirm_run",
    "enter",
    "open_shell",
    "rendered",
    "start_web_server",
    "stop_web_server",
    "wait_match",
    "wait_prompt",
    "wait_rendered",
    "wait_state",
]


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


#: JS: the text of the line the cursor is on, trailing blanks removed.
CURSOR_LINE = """() => {
  const b = window.wsepApp.term.buffer.active;
  const line = b.getLine(b.baseY + b.cursorY);
  return line ? line.translateToString(true).trimEnd() : "";
}"""


def wait_prompt(page: Any) -> None:
    """Wait until the cursor stands on a fresh prompt (the shell reads a line)."""
    page.wait_for_function(f"(p) => ({CURSOR_LINE})() === p", arg=PROMPT.rstrip(), timeout=WAIT_MS)


#: JS: the text xterm.js rendered.
RENDERED = "() => document.querySelector('.xterm-rows').innerText"


def rendered(page: Any) -> str:
    """The text xterm.js rendered (no-break spaces as spaces)."""
    return str(page.evaluate(RENDERED)).replace("\xa0", " ")


def wait_rendered(page: Any, text: str) -> None:
    """Wait until ``text`` is among what xterm.js rendered."""
    page.wait_for_function(
        "(t) => document.querySelector('.xterm-rows').innerText.replace(/\\u00a0/g, ' ')"
        ".includes(t)",
        arg=text,
        timeout=WAIT_MS,
    )


def wait_match(page: Any, pattern: str) -> re.Match[str]:
    """Wait until the rendered text matches ``pattern`` (a JS-compatible regex)."""
    handle = page.wait_for_function(
        "(p) => { const t = document.querySelector('.xterm-rows').innerText;"
        " const m = new RegExp(p).exec(t.replace(/\\u00a0/g, ' ')); return m ? m[0] : null; }",
        arg=pattern,
        timeout=WAIT_MS,
    )
    match = re.search(pattern, str(handle.json_value()))
    assert match is not None
    return match


def enter(page: Any, command: str) -> None:
    """Type ``command`` and Enter, as a person would."""
    page.keyboard.type(command)
    page.keyboard.press("Enter")


def open_shell(page: Any, server: WebServer, params: Sequence[tuple[str, str]] = ()) -> None:
    """Open the page with a test shell (``SHELL_PARAMS`` and ``params``), press Run,
    wait for the prompt."""
    page.goto(server.page_url([*SHELL_PARAMS, *params]))
    confirm_run(page)
    wait_state(page, "running")
    wait_prompt(page)


def start_web_server(cwd: Path, *args: str, env: dict[str, str] | None = None) -> WebServer:
    """``python -m wsep_server --web ARGS`` on a free port, answering ``/healthz``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsep_server", "--host", "127.0.0.1", "--port", "0", "--web", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={"WSEP_INSECURE_NO_AUTH": "1", **os.environ, "HOME": str(cwd), **(env or {})},
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline().decode()
    if not first.startswith("wsep-server: serving "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"server did not start: {first!r} {proc.stderr.read().decode()}")
    hostport = first.split()[-1].split("://", 1)[1].split("/", 1)[0]
    server = WebServer(proc, f"http://{hostport}")
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(server.http_url + "/healthz", timeout=5):
                break
        except OSError:
            if time.monotonic() > deadline:
                stop_web_server(server)
                raise
            time.sleep(0.05)
    return server


def stop_web_server(server: WebServer) -> None:
    proc = server.proc
    stop_process(proc)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
