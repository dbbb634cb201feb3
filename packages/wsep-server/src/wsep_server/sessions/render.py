"""Escape sequences that redraw an emulated screen on a fresh terminal.

What a reattaching client gets instead of the byte history (see
``PROTOCOL.md``, "The redraw"): the scrollback, the main screen, the
alternate screen when it is active, title, scroll region, modes, cursor
position, pen and visibility. Queries the program once sent are state-free,
so they are never part of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pyte import modes as mo
from pyte.screens import Char

from .screen import EmulatedScreen

__all__ = ["render_screen", "sgr"]

#: Private modes re-emitted as they are (``ESC [ ? n h``) when set: cursor keys,
#: reverse wrap, mouse reporting, focus events, bracketed paste.
_PRIVATE_MODES = (1, 45, 1000, 1002, 1003, 1004, 1005, 1006, 1015, 2004)
#: pyte's colour names, in SGR order.
_NAMED = ("black", "red", "green", "brown", "blue", "magenta", "cyan", "white")
_FG = {name: 30 + i for i, name in enumerate(_NAMED)}
_BG = {name: 40 + i for i, name in enumerate(_NAMED)}
_FG.update({"bright" + name: 90 + i for i, name in enumerate(_NAMED)})
_BG.update({"bright" + name: 100 + i for i, name in enumerate(_NAMED)})
_BG["bfightmagenta"] = 105  # pyte's spelling of SGR 105


def _color(value: str, table: Mapping[str, int], extended: int) -> str | None:
    if value == "default":
        return None
    code = table.get(value)
    if code is not None:
        return str(code)
    try:
        r, g, b = int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    except ValueError:
        return None
    return f"{extended};2;{r};{g};{b}"


def sgr(char: Char) -> str:
    """The SGR sequence that sets exactly ``char``'s attributes (from a reset)."""
    parts = ["0"]
    if char.bold:
        parts.append("1")
    if char.italics:
        parts.append("3")
    if char.underscore:
        parts.append("4")
    if char.blink:
        parts.append("5")
    if char.reverse:
        parts.append("7")
    if char.strikethrough:
        parts.append("9")
    fg = _color(char.fg, _FG, 38)
    if fg is not None:
        parts.append(fg)
    bg = _color(char.bg, _BG, 48)
    if bg is not None:
        parts.append(bg)
    return "\x1b[" + ";".join(parts) + "m"


def _attrs(char: Char) -> tuple[Any, ...]:
    return tuple(char[1:])


def _render_line(row: Mapping[int, Char] | None, columns: int, out: list[str]) -> None:
    """Append the characters of ``row`` with their attributes, without trailing blanks."""
    if not row:
        return
    last = -1
    for x in sorted(row):
        if x >= columns:
            break
        char = row[x]
        if char.data not in (" ", "") or _attrs(char) != _attrs(_BLANK):
            last = x
    if last < 0:
        return
    pen: tuple[Any, ...] | None = None
    column = 0
    for x in range(last + 1):
        char = row.get(x, _BLANK)
        if char.data == "":  # the stub after a wide character
            continue
        attrs = _attrs(char)
        if attrs != pen:
            out.append(sgr(char))
            pen = attrs
        if x != column:
            out.append(f"\x1b[{x + 1}G")
        out.append(char.data)
        stub = row.get(x + 1)
        column = x + 2 if stub is not None and stub.data == "" else x + 1
    out.append("\x1b[0m")


_BLANK = Char(" ")


def render_screen(screen: EmulatedScreen) -> bytes:
    """The bytes that make a fresh terminal show what ``screen`` shows."""
    rows, columns = screen.lines, screen.columns
    out: list[str] = ["\x1b[0m\x1b[r\x1b[?6l\x1b[?7h\x1b[4l\x1b[20l\x1b[H\x1b[2J"]
    if screen.scrollback:
        # Lines that scroll off the top land in the client's own scrollback.
        for i, row in enumerate(screen.scrollback):
            if i:
                out.append("\r\n")
            _render_line(row, columns, out)
        out.append("\r\n" * rows)
        out.append("\x1b[H\x1b[2J")
    main = screen.main_buffer if screen.alternate else screen.buffer
    _render_rows(main, rows, columns, out)
    if screen.alternate:
        cursor = screen.main_cursor
        out.append(f"\x1b[{cursor.y + 1};{min(cursor.x, columns - 1) + 1}H")
        out.append(sgr(cursor.attrs))
        out.append("\x1b[?1049h\x1b[H\x1b[2J")
        _render_rows(screen.buffer, rows, columns, out)
    _render_modes(screen, out)
    cursor = screen.cursor
    y = cursor.y
    if mo.DECOM in screen.mode and screen.margins is not None:
        y -= screen.margins.top
    out.append(f"\x1b[{y + 1};{min(cursor.x, columns - 1) + 1}H")
    out.append(sgr(cursor.attrs))
    out.append("\x1b[?25l" if cursor.hidden else "\x1b[?25h")
    return "".join(out).encode("utf-8", "replace")


def _render_rows(buffer: Mapping[int, Any], rows: int, columns: int, out: list[str]) -> None:
    for y in range(rows):
        row = buffer.get(y)
        if row:
            out.append(f"\x1b[{y + 1};1H")
            _render_line(row, columns, out)


def _render_modes(screen: EmulatedScreen, out: list[str]) -> None:
    if screen.title:
        title = "".join(c for c in screen.title if c.isprintable())
        out.append(f"\x1b]2;{title}\x07")
    if screen.margins is not None:
        out.append(f"\x1b[{screen.margins.top + 1};{screen.margins.bottom + 1}r")
    modes: Iterable[int] = screen.mode
    for mode in _PRIVATE_MODES:
        if mode << 5 in modes:
            out.append(f"\x1b[?{mode}h")
    if mo.DECOM in screen.mode:
        out.append("\x1b[?6h")
    if mo.DECAWM not in screen.mode:
        out.append("\x1b[?7l")
    if mo.IRM in screen.mode:
        out.append("\x1b[4h")
    if mo.LNM in screen.mode:
        out.append("\x1b[20h")
