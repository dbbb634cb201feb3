"""Escape sequences that redraw an emulated screen on a fresh terminal.

What a reattaching client gets instead of the byte history (see
``PROTOCOL.md``, "The redraw"): line-oriented, so that a client reading
lines sees each screen line whole: the scrollback and the main screen, or the
alternate screen alone when it is active, then title, scroll region, modes,
cursor position, pen and visibility. Queries the program once sent are
state-free, so they are never part of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pyte import modes as mo
from pyte.screens import Char

from .screen import EmulatedScreen, Row

__all__ = ["PREAMBLE", "render_main", "render_screen", "sgr"]

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


#: SGR codes of bold, italics, underline, blink, reverse and strikethrough, in that order.
_FLAG_CODES = ("1", "3", "4", "5", "7", "9")


def sgr(char: Char) -> str:
    """The SGR sequence that sets exactly ``char``'s attributes (from a reset)."""
    flags = (char.bold, char.italics, char.underscore, char.blink, char.reverse, char.strikethrough)
    parts = ["0", *(code for on, code in zip(flags, _FLAG_CODES, strict=True) if on)]
    fg = _color(char.fg, _FG, 38)
    if fg is not None:
        parts.append(fg)
    bg = _color(char.bg, _BG, 48)
    if bg is not None:
        parts.append(bg)
    return "\x1b[" + ";".join(parts) + "m"


def _attrs(char: Char) -> tuple[Any, ...]:
    return tuple(char[1:])


_BLANK = Char(" ")
_PLAIN = _attrs(_BLANK)
#: Puts the client's terminal in a known state (pen, margins, modes) on a clear main screen.
PREAMBLE = "\x1b[0m\x1b[r\x1b[?6l\x1b[?7h\x1b[4l\x1b[20l\x1b[H\x1b[2J"


def _visible(row: Mapping[int, Char] | None, columns: int) -> int:
    """The column of the last cell of ``row`` that shows something (-1: none)."""
    if not row:
        return -1
    last = -1
    for x, char in row.items():
        if x < columns and x > last and (char.data not in (" ", "") or _attrs(char) != _PLAIN):
            last = x
    return last


def _render_run(rows: Sequence[Row | None], columns: int, out: list[str]) -> None:
    """One logical line (a row and the rows wrapped from it) as one run of characters.

    Every row but the last is written to its last column, so the terminal wraps
    exactly there; the pen starts and ends plain, so the text is unbroken
    wherever its attributes do not change.
    """
    pen = _PLAIN
    for i, row in enumerate(rows):
        last = columns - 1 if i < len(rows) - 1 else _visible(row, columns)
        column = 0
        for x in range(last + 1):
            char = row.get(x, _BLANK) if row else _BLANK
            if char.data == "":  # the stub after a wide character
                continue
            attrs = _attrs(char)
            if attrs != pen:
                out.append(sgr(char))
                pen = attrs
            if x != column:
                out.append(f"\x1b[{x + 1}G")
            out.append(char.data or " ")
            stub = row.get(x + 1) if row else None
            column = x + 2 if stub is not None and stub.data == "" else x + 1
    if pen != _PLAIN:
        out.append("\x1b[0m")


def _render_lines(rows: Sequence[Row | None], columns: int, out: list[str]) -> None:
    """``rows`` as lines separated by CR LF, wrapped rows joined, trailing blank rows left out."""
    last = len(rows) - 1
    while last >= 0 and _visible(rows[last], columns) < 0:
        last -= 1
    y = 0
    while y <= last:
        run = [rows[y]]
        while y + len(run) <= last and _continues(run[-1], rows[y + len(run)], columns):
            run.append(rows[y + len(run)])
        if y:
            out.append("\r\n")
        _render_run(run, columns, out)
        y += len(run)


def _continues(row: Row | None, below: Row | None, columns: int) -> bool:
    """``below`` holds the rest of ``row``'s line: the cursor wrapped from a full ``row``."""
    return below is not None and below.continued and row is not None and columns - 1 in row


def _buffer_rows(buffer: Mapping[int, Row], rows: int) -> list[Row | None]:
    return [buffer.get(y) for y in range(rows)]


def _cursor_to(cursor: Any, columns: int) -> str:
    return f"\x1b[{cursor.y + 1};{min(cursor.x, columns - 1) + 1}H"


def render_screen(screen: EmulatedScreen) -> bytes:
    """The bytes that make a fresh terminal show what ``screen`` shows (see PROTOCOL.md)."""
    rows, columns = screen.lines, screen.columns
    out: list[str] = [PREAMBLE]
    if screen.alternate:
        # Only the alternate screen; the client's terminal saves this cursor on
        # the switch and gets it back when the program leaves the alternate screen.
        out.append(_cursor_to(screen.main_cursor, columns))
        out.append("\x1b[?1049h\x1b[H\x1b[2J")
        _render_lines(_buffer_rows(screen.buffer, rows), columns, out)
    else:
        if screen.scrollback:
            # Lines that scroll off the top land in the client's own scrollback.
            _render_lines(list(screen.scrollback), columns, out)
            out.append("\r\n" * rows)
            out.append("\x1b[H\x1b[2J")
        _render_lines(_buffer_rows(screen.buffer, rows), columns, out)
    _render_modes(screen, out)
    cursor = screen.cursor
    y = cursor.y
    if mo.DECOM in screen.mode and screen.margins is not None:
        y -= screen.margins.top
    out.append(f"\x1b[{y + 1};{min(cursor.x, columns - 1) + 1}H")
    out.append(sgr(cursor.attrs))
    out.append("\x1b[?25l" if cursor.hidden else "\x1b[?25h")
    return "".join(out).encode("utf-8", "replace")


def render_main(screen: EmulatedScreen) -> tuple[bytes, bytes]:
    """While the alternate screen shows: the main screen's rows, and its cursor and pen.

    What a client that attached during the alternate screen needs once the
    program leaves it, to see the main screen as everybody else does.
    """
    if not screen.alternate:
        return b"", b""
    rows, columns = screen.lines, screen.columns
    out = ["\x1b[0m\x1b[H\x1b[2J"]
    _render_lines(_buffer_rows(screen.main_buffer, rows), columns, out)
    cursor = screen.main_cursor
    where = _cursor_to(cursor, columns) + sgr(cursor.attrs)
    return "".join(out).encode("utf-8", "replace"), where.encode()


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
