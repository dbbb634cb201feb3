"""The web terminal and the JS client in Debian's headless Chromium, against a real server.

Every test drives the page as a person would (types into xterm.js, resizes the window,
reloads) and reads what xterm.js rendered. The page exposes ``window.wsepApp`` (the
terminal, the process, the state) so waits can be on conditions, never on sleeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.web import (
    SHELL_PARAMS,
    TOKEN,
    WAIT_MS,
    WebServer,
    confirm_run,
    enter,
    open_shell,
    rendered,
    wait_match,
    wait_prompt,
    wait_rendered,
    wait_state,
)

pytestmark = pytest.mark.browser


def term_size(page: Any) -> tuple[int, int]:
    rows, cols = page.evaluate("() => [window.wsepApp.term.rows, window.wsepApp.term.cols]")
    return int(rows), int(cols)


# --- tests --------------------------------------------------------------------------------


def test_page_runs_echo_and_renders_it(page: Any, web_server: WebServer, artifacts: Path) -> None:
    open_shell(page, web_server)
    status = page.inner_text("#status")
    assert "protocol v2" in status
    enter(page, "echo hel''lo-from-$((6*7))")
    wait_rendered(page, "hello-from-42")
    wait_prompt(page)
    lines = [line.rstrip() for line in rendered(page).splitlines()]
    assert "hello-from-42" in lines
    page.screenshot(path=str(artifacts / "terminal.png"))


def test_typing_reaches_the_process(page: Any, web_server: WebServer) -> None:
    open_shell(page, web_server)
    # Type only once read is waiting: keys that arrive while the shell is still
    # switching the terminal out of its line editor's mode may be dropped.
    enter(page, 'read -r -p "rea""dy> " line; echo "got:[$line]"')
    wait_rendered(page, "ready>")
    page.keyboard.type("typed ünïcödé text")
    page.keyboard.press("Enter")
    wait_rendered(page, "got:[typed ünïcödé text]")
    wait_prompt(page)


def test_window_resize_is_sent_to_the_tty(page: Any, web_server: WebServer) -> None:
    open_shell(page, web_server)
    rows, cols = term_size(page)
    enter(page, "echo size=$(stty size)")
    wait_rendered(page, f"size={rows} {cols}")
    wait_prompt(page)

    page.set_viewport_size({"width": 560, "height": 300})
    page.wait_for_function("(c) => window.wsepApp.term.cols < c", arg=cols, timeout=WAIT_MS)
    new_rows, new_cols = term_size(page)
    assert new_rows < rows
    enter(page, "clear; echo size=$(stty size)")
    wait_rendered(page, f"size={new_rows} {new_cols}")


BACKLOG_MONITOR = """() => {
  const app = window.wsepApp;
  app.maxBacklog = 0;
  const sample = () => {
    const p = app.proc;
    app.maxBacklog = Math.max(app.maxBacklog, p.bytesReceived - p.bytesConsumed);
    if (p.running) setTimeout(sample, 1);
  };
  sample();
}"""


def test_yes_then_ctrl_c_returns_a_prompt_quickly(page: Any, web_server: WebServer) -> None:
    """Flow control: output in the page never runs more than one window ahead of xterm.js."""
    open_shell(page, web_server)
    window = page.evaluate("() => window.wsepApp.proc.flowWindow")
    assert window > 0
    page.evaluate(BACKLOG_MONITOR)
    enter(page, "yes")
    # The flood is on: many windows' worth of output went through the page.
    page.wait_for_function(
        "() => window.wsepApp.proc.bytesReceived > 4 * 1024 * 1024", timeout=WAIT_MS
    )
    backlog = page.evaluate("() => window.wsepApp.maxBacklog")
    assert 0 < backlog <= window
    page.keyboard.press("Control+c")
    wait_prompt(page)
    # Quickly, in the sense that matters: nothing queued beyond one window stood between
    # Ctrl-C and the prompt (the monitor kept sampling throughout).
    backlog = page.evaluate("() => window.wsepApp.maxBacklog")
    assert 0 < backlog <= window
    # Still responsive afterwards.
    enter(page, "echo after-$((1+1))")
    wait_rendered(page, "after-2")


def test_exit_status_is_shown(page: Any, web_server: WebServer) -> None:
    open_shell(page, web_server)
    enter(page, "exit 3")
    wait_state(page, "exited")
    assert page.evaluate("() => window.wsepApp.exitStatus.exitCode") == 3
    assert "exit status 3" in page.inner_text("#status")
    wait_rendered(page, "[exited: exit status 3]")


def test_start_failure_is_shown_without_retrying(page: Any, web_server: WebServer) -> None:
    page.goto(web_server.page_url([("command", "/nonexistent/wsep-test-command")]))
    confirm_run(page)
    wait_state(page, "failed")
    assert page.evaluate("() => window.wsepApp.error.code") == "command_not_found"
    status = page.inner_text("#status")
    assert "failed" in status
    assert "/nonexistent/wsep-test-command" in status
    # One attach that found no session to reattach to, then the confirmed start: no retry.
    assert page.evaluate("() => window.wsepApp.connections") == 2


SPLIT_SCRIPT = r"""
import os, sys, termios, tty

CHARS = "😀𝄞🀄𐍈🚀"
parts = []
for offset in (1, 2, 3):
    for ch in CHARS:
        raw = ch.encode()
        parts += [raw[:offset], raw[offset:]]
fd = sys.stdin.fileno()
saved = termios.tcgetattr(fd)
tty.setraw(fd)
try:
    os.write(1, b"READY\r\n")
    for part in parts:
        os.read(fd, 1)  # the test's go-ahead: one message boundary per part
        os.write(1, part)
    os.read(fd, 1)
    os.write(1, b"\r\nDONE\r\n")
finally:
    termios.tcsetattr(fd, termios.TCSADRAIN, saved)
"""


def test_utf8_split_at_every_offset_renders_without_replacement(
    page: Any, web_server: WebServer, tmp_path: Path
) -> None:
    """4-byte characters, each cut at byte 1, 2 and 3 into separate messages."""
    script = tmp_path / "split.py"
    script.write_text(SPLIT_SCRIPT, encoding="utf-8")
    chars = "😀𝄞🀄𐍈🚀"
    parts = [
        part
        for offset in (1, 2, 3)
        for ch in chars
        for part in (ch.encode()[:offset], ch.encode()[offset:])
    ]
    open_shell(page, web_server)
    enter(page, f"python3 {script}")
    wait_rendered(page, "READY")
    expected = page.evaluate("() => window.wsepApp.proc.bytesReceived")
    for part in parts:
        expected += len(part)
        page.keyboard.press("x")
        # The part has arrived on its own (the script waits for the next key).
        page.wait_for_function(
            "(n) => window.wsepApp.proc.bytesReceived === n", arg=expected, timeout=WAIT_MS
        )
    page.keyboard.press("x")
    wait_rendered(page, "DONE")
    text = rendered(page)
    assert "\ufffd" not in text
    assert chars * 3 in text.replace(" ", "").replace("\n", "")


def test_js_client_module_against_the_server(page: Any, web_server: WebServer) -> None:
    """The module on its own: v2, token subprotocol, stdin, async iteration, exit status."""
    page.goto(web_server.http_url + "/healthz")  # any page of the same origin
    ws_url = web_server.http_url.replace("http://", "ws://") + "/"
    result = page.evaluate(
        """async (url) => {
          const { exec } = await import("/static/wsep.js");
          const proc = await exec(url, {
            command: "sh",
            args: ["-c", "printf out; printf err >&2; read x; printf '[%s]' \\"$x\\"; exit 5"],
            stdin: true,
          }, { token: "not-checked-here", encoding: "utf-8" });
          const collect = async (stream) => {
            let s = "";
            for await (const c of stream) s += c;
            return s;
          };
          const out = collect(proc.stdout);
          const err = collect(proc.stderr);
          proc.write("héllo\\n");
          proc.closeStdin();
          const status = await proc.exited;
          return { version: proc.version, pid: proc.pid, out: await out, err: await err, status };
        }""",
        ws_url,
    )
    assert result["version"] == 2
    assert result["pid"] > 0
    assert result["out"] == "out[héllo]"
    assert result["err"] == "err"
    assert result["status"]["exitCode"] == 5
    assert result["status"]["error"] == "exit status 5"


def test_reload_reattaches_to_the_same_session(page: Any, web_server: WebServer) -> None:
    """The session id is in the address: a reload reattaches and the screen comes back."""
    open_shell(page, web_server)
    session = page.evaluate("() => window.wsepApp.sessionId")
    assert f"session={session}" in page.url
    enter(page, "echo shell=$$ mark=$((5*5))")
    shell = wait_match(page, r"shell=(\d+) mark=25").group(1)
    wait_prompt(page)

    page.reload()
    wait_state(page, "running")
    assert page.evaluate("() => window.wsepApp.sessionId") == session
    wait_prompt(page)
    enter(page, "echo same=$(($$+0))")
    again = wait_match(page, r"same=(\d+)")
    wait_prompt(page)
    assert again.group(1) == shell, "a new shell was started instead of reattaching"
    assert f"shell={shell} mark=25" in rendered(page), "the screen was not restored"
    enter(page, "exit")  # end the session rather than leave it to its idle timeout
    wait_state(page, "exited")


def test_lost_connection_reconnects_to_the_session(page: Any, web_server: WebServer) -> None:
    open_shell(page, web_server)
    session = page.evaluate("() => window.wsepApp.sessionId")
    before = page.evaluate("() => window.wsepApp.connections")
    page.evaluate("() => window.wsepApp.proc.connection.socket.close(4000, 'test drop')")
    page.wait_for_function(
        "(n) => window.wsepApp.connections === n + 1 && window.wsepApp.state === 'running'",
        arg=before,
        timeout=WAIT_MS,
    )
    assert page.evaluate("() => window.wsepApp.sessionId") == session
    wait_prompt(page)
    enter(page, "echo back-$((2+3))")
    wait_rendered(page, "back-5")


@pytest.mark.parametrize("token_in", ["subprotocol", "query"])
def test_token_authentication(page: Any, token_server: WebServer, token_in: str) -> None:
    """The page passes ``?token=`` on as a subprotocol entry or a query parameter."""
    params = [*SHELL_PARAMS, ("token", TOKEN), ("token_in", token_in)]
    page.goto(token_server.page_url(params))
    confirm_run(page)
    wait_state(page, "running")
    wait_prompt(page)
    assert TOKEN not in page.url, "the token is taken out of the address"
    enter(page, "echo authed-$((3*3))")
    wait_rendered(page, "authed-9")
    page.reload()  # the tab still has it
    wait_state(page, "running")


def test_without_the_token_the_page_asks_for_it(page: Any, token_server: WebServer) -> None:
    page.goto(token_server.page_url())  # the page itself is public
    wait_state(page, "token")
    assert "this server needs a token" in page.inner_text("#status")
    assert page.is_visible("#token-input")
    page.fill("#token-input", TOKEN)
    page.click("#token-prompt button[type=submit]")
    confirm_run(page)
    wait_state(page, "running")
    wait_prompt(page)
