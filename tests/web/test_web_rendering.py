"""What the terminal draws, checked in the pixels of Chromium screenshots: underscores at
device pixel ratio 1 and 2, the light theme, font size; and the page title."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from support.web import WAIT_MS, WebServer, open_shell

pytestmark = [pytest.mark.browser, pytest.mark.once]

CELL_BOX = """([row, col]) => {
  const t = window.wsepApp.term;
  const rows = document.querySelector('.xterm-rows').getBoundingClientRect();
  const w = rows.width / t.cols, h = rows.height / t.rows;
  return { x: rows.left + col * w, y: rows.top + row * h, width: w, height: h };
}"""
FIND = """(text) => {
  const b = window.wsepApp.term.buffer.active;
  for (let y = 0; y < window.wsepApp.term.rows; y++) {
    const line = b.getLine(b.viewportY + y).translateToString(true);
    if (line === text) return y;
  }
  return -1;
}"""


def print_line(page: Any, text: str) -> int:
    """Have the shell print ``text`` on a line of its own; the screen row it is on."""
    page.keyboard.type(f"printf '%s\\n' '{text}'")
    page.keyboard.press("Enter")
    handle = page.wait_for_function(
        f"() => {{ const y = ({FIND})({text!r}); return y >= 0 ? y : null; }}", timeout=WAIT_MS
    )
    page.wait_for_function(
        "() => new Promise((r) =>"
        " requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
    )
    return int(handle.json_value())


def cell_pixels(page: Any, row: int, col: int, artifacts: Path, name: str) -> Any:
    from PIL import Image

    box = page.evaluate(CELL_BOX, [row, col])
    shot = page.screenshot(clip=box, scale="device")
    (artifacts / f"{name}.png").write_bytes(shot)
    return Image.open(io.BytesIO(shot)).convert("L")


def lit_rows(image: Any, background: int, threshold: int = 60) -> list[int]:
    """Pixel rows of ``image`` that hold a pixel far from the background's brightness."""
    width, height = image.size
    px = image.load()
    return [
        y
        for y in range(height)
        if any(abs(px[x, y] - background) > threshold for x in range(width))
    ]


@pytest.mark.parametrize("dpr", [1, 2])
def test_underscores_are_drawn(
    browser: Any, web_server: WebServer, artifacts: Path, dpr: int
) -> None:
    """``a_b``: the underscore's cell has foreground pixels, in its lower half."""
    context = browser.new_context(viewport={"width": 900, "height": 480}, device_scale_factor=dpr)
    page = context.new_page()
    try:
        open_shell(page, web_server)
        row = print_line(page, "a_b")
        underscore = cell_pixels(page, row, 1, artifacts, f"underscore-dpr{dpr}")
        lit = lit_rows(underscore, background=0)
        assert lit, f"the underscore drew nothing at device pixel ratio {dpr}"
        assert min(lit) > underscore.size[1] / 2, "what was drawn is not a low line"
        letter = cell_pixels(page, row, 0, artifacts, f"letter-a-dpr{dpr}")
        assert lit_rows(letter, background=0), "the letter a must be drawn too"
    finally:
        context.close()


def test_light_theme_font_size_and_title(page: Any, web_server: WebServer, artifacts: Path) -> None:
    open_shell(page, web_server, [("theme", "light"), ("font_size", "20")])
    assert page.evaluate("() => window.wsepApp.term.options.fontSize") == 20
    row = print_line(page, "x_y")
    underscore = cell_pixels(page, row, 1, artifacts, "underscore-light")
    background = underscore.getpixel((0, 0))
    assert background > 200, "the light theme has a light background"
    assert lit_rows(underscore, background=background), "dark underscore on light background"
    host = page.evaluate("() => window.wsepApp.check.host")
    assert host
    # The shell does not set a title itself, so the page's own stays: command and host.
    assert page.title() == f"bash --norc --noprofile — {host}"


def test_server_flags_set_the_defaults(browser: Any, tmp_path: Path, artifacts: Path) -> None:
    from support.web import start_web_server, stop_web_server

    server = start_web_server(tmp_path, "--web-font-size", "18", "--web-theme", "light")
    context = browser.new_context(viewport={"width": 900, "height": 480})
    try:
        page = context.new_page()
        open_shell(page, server)
        assert page.evaluate("() => window.wsepApp.term.options.fontSize") == 18
        assert page.evaluate("() => document.documentElement.dataset.theme") == "light"
        page = context.new_page()  # a new tab: it asks to confirm again
        open_shell(page, server, [("font_size", "11"), ("theme", "dark")])  # the URL wins
        assert page.evaluate("() => window.wsepApp.term.options.fontSize") == 11
        assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    finally:
        context.close()
        stop_web_server(server)
