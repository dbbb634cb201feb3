"""Full-screen programs in the web terminal: xterm.js answers their queries, the session holds.

vim queries the terminal (device attributes, versions, colours, modes) and,
given xterm.js's answers, writes sequences the server's screen emulator once
died on (``ESC [ ? 4 m``). The page must survive vim, a reload must reattach
to a screen that shows what it should, and a flood of output must arrive.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.web import (
    WAIT_MS,
    WebServer,
    enter,
    open_shell,
    rendered,
    wait_match,
    wait_prompt,
    wait_rendered,
    wait_state,
)

pytestmark = [pytest.mark.browser, pytest.mark.once]

SCREEN_LINES = """() => {
  const b = window.wsepApp.term.buffer.active;
  const lines = [];
  for (let y = 0; y < window.wsepApp.term.rows; y++) {
    const line = b.getLine(b.viewportY + y);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines;
}"""


def test_vim_then_a_reload_then_a_flood(page: Any, web_server: WebServer) -> None:
    open_shell(page, web_server)
    enter(page, "printf 'line %s of the poem\\n' 1 2 3 4 5 > poem.txt; vim -N -i NONE poem.txt")
    wait_rendered(page, "line 5 of the poem")
    page.wait_for_function(
        "() => window.wsepApp.term.buffer.active.type === 'alternate'", timeout=WAIT_MS
    )
    wait_rendered(page, '"poem.txt"')
    page.keyboard.type(":q")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => window.wsepApp.term.buffer.active.type === 'normal'", timeout=WAIT_MS
    )
    wait_prompt(page)

    page.reload()
    wait_state(page, "running")
    wait_prompt(page)
    lines = [line.rstrip() for line in page.evaluate(SCREEN_LINES)]
    command = next(i for i, line in enumerate(lines) if line.endswith("vim -N -i NONE poem.txt"))
    assert not any("line 1 of the poem" in line for line in lines), lines  # vim's screen is gone
    assert lines[command + 1].startswith("wsep$"), lines

    enter(page, "seq 1 300000 | tail -1")
    wait_match(page, r"(^|\n)300000\s*\n")
    wait_prompt(page)
    assert "300000" in rendered(page)
    enter(page, "exit")
    wait_state(page, "exited")
