"""pyte's screen with what a session needs: alternate screen, scrollback, wraps, speed.

pyte knows neither the alternate screen nor scrollback nor which rows were
wrapped, and its ``draw`` costs about 3 µs a character. :class:`EmulatedScreen`
adds the first two (bounded by :class:`TerminalLimits`), marks a row that the
cursor wrapped into as the continuation of the one above (:class:`Row`, as
xterm does, so a redraw can write a wrapped line as one run), and a fast path
for printable ASCII (≈ 4× faster).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import pyte
from pyte import modes as mo
from pyte.charsets import LAT1_MAP
from pyte.screens import Char, StaticDefaultDict

__all__ = ["EmulatedScreen", "Row", "TerminalLimits"]

#: The private modes that switch to the alternate screen.
_ALT_MODES = frozenset({1049 << 5, 1047 << 5, 47 << 5})
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))
_CACHE_ATTRS = 256


@dataclass(frozen=True, slots=True)
class TerminalLimits:
    """Bounds on one session's terminal state (the memory it may hold)."""

    max_rows: int = 500
    max_cols: int = 1000
    scrollback_lines: int = 200
    scrollback_cells: int = 50_000
    #: Output is fed to the emulator in batches of this many bytes (and before a
    #: render). A batch of plain text keeps only the lines that can still show.
    batch_bytes: int = 1 << 20


class Row(StaticDefaultDict[int, Char]):
    """One row of the screen; it moves (scrolls) as a whole, its flag with it."""

    #: The cursor wrapped into this row from the end of the row above: same line.
    continued = False


class EmulatedScreen(pyte.Screen):
    """pyte's screen plus the alternate screen, a bounded scrollback and a fast ASCII draw."""

    buffer: dict[int, Row]  # type: ignore[assignment]  # every row is a Row (_fresh_buffer)

    def __init__(self, columns: int, lines: int, limits: TerminalLimits) -> None:
        self.limits = limits
        self.scrollback: deque[Row] = deque()
        self.scrollback_cells = 0
        self.alternate = False
        self.main_buffer: Any = None
        self.main_cursor: Any = None
        self._char_cache: dict[Char, dict[str, Char]] = {}
        self._drawing = False
        super().__init__(columns, lines)
        self.buffer = self._fresh_buffer()

    # --- fast path ---------------------------------------------------------

    def draw(self, data: str) -> None:
        if (
            self.charset
            or self.g0_charset is not LAT1_MAP
            or mo.IRM in self.mode
            or mo.DECAWM not in self.mode
            or not data.isascii()
            or not data.isprintable()
        ):
            self._drawing = True
            try:
                super().draw(data)
            finally:
                self._drawing = False
            return
        attrs = self.cursor.attrs
        table = self._char_cache.get(attrs)
        if table is None:
            if len(self._char_cache) >= _CACHE_ATTRS:
                self._char_cache.clear()
            table = {c: attrs._replace(data=c) for c in _PRINTABLE_ASCII}
            self._char_cache[attrs] = table
        columns = self.columns
        start, end = 0, len(data)
        while start < end:
            cursor = self.cursor
            if cursor.x >= columns:
                self.dirty.add(cursor.y)
                self.carriage_return()
                self.linefeed()
                self.buffer[self.cursor.y].continued = True
            x = cursor.x
            take = min(end - start, columns - x)
            self.buffer[cursor.y].update(
                zip(
                    range(x, x + take),
                    map(table.__getitem__, data[start : start + take]),
                    strict=True,
                )
            )
            cursor.x = x + take
            start += take
        self.dirty.add(self.cursor.y)

    def linefeed(self) -> None:
        super().linefeed()
        if self._drawing:  # pyte's draw feeds a line only when it wraps
            self.buffer[self.cursor.y].continued = True

    def reset(self) -> None:
        """RIS: back to the main screen, as a terminal does."""
        if self.alternate:
            self.buffer = self.main_buffer
            self.cursor = self.main_cursor
            self.main_buffer = self.main_cursor = None
            self.alternate = False
        super().reset()

    # --- scrollback --------------------------------------------------------

    def index(self) -> None:
        if not self.alternate and self.cursor.y == (
            self.lines - 1 if self.margins is None else self.margins.bottom
        ):
            top = 0 if self.margins is None else self.margins.top
            if top == 0:
                self._push_scrollback(self.buffer.get(0))
        super().index()

    def _push_scrollback(self, line: Row | None) -> None:
        limits = self.limits
        if limits.scrollback_lines <= 0:
            return
        line = Row(self.default_char) if line is None else line  # dropped from the buffer: no copy
        self.scrollback.append(line)
        self.scrollback_cells += len(line)
        while self.scrollback and (
            len(self.scrollback) > limits.scrollback_lines
            or self.scrollback_cells > limits.scrollback_cells
        ):
            self.scrollback_cells -= len(self.scrollback.popleft())

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        super().erase_in_display(how, *args, **kwargs)
        if how == 0:
            erased = range(self.cursor.y + 1, self.lines)
        elif how == 1:
            erased = range(self.cursor.y)
        else:
            erased = range(self.lines)
        for y in erased:
            row = self.buffer.get(y)
            if row is not None:
                row.continued = False
        if how == 3:  # "clear scrollback", as xterm does
            self.scrollback.clear()
            self.scrollback_cells = 0

    # --- alternate screen --------------------------------------------------

    def _fresh_buffer(self) -> Any:
        return defaultdict(lambda: Row(self.default_char))

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and not self.alternate:
            shifted = {m << 5 for m in modes}
            if shifted & _ALT_MODES:
                if 1049 << 5 in shifted:
                    self.save_cursor()
                self.main_buffer = self.buffer
                self.main_cursor = self.cursor
                self.buffer = self._fresh_buffer()
                self.cursor = pyte.screens.Cursor(self.cursor.x, self.cursor.y, self.cursor.attrs)
                self.cursor.hidden = self.main_cursor.hidden
                self.alternate = True
                self.dirty.update(range(self.lines))
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        super().reset_mode(*modes, **kwargs)
        if kwargs.get("private") and self.alternate:
            shifted = {m << 5 for m in modes}
            if shifted & _ALT_MODES:
                self.mode.difference_update(_ALT_MODES)
                hidden = self.cursor.hidden
                self.buffer = self.main_buffer
                self.cursor = self.main_cursor
                self.cursor.hidden = hidden
                self.main_buffer = self.main_cursor = None
                self.alternate = False
                self.dirty.update(range(self.lines))
                if 1049 << 5 in shifted:
                    self.restore_cursor()

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        if self.alternate and self.main_buffer is not None:
            # Clip the saved main screen the way pyte clips the visible one.
            new_lines = lines or self.lines
            new_cols = columns or self.columns
            if new_lines < self.lines:
                drop = self.lines - new_lines
                moved = self._fresh_buffer()
                for y, row in self.main_buffer.items():
                    if y >= drop:
                        moved[y - drop] = row
                self.main_buffer = moved
            if new_cols < self.columns:
                for row in self.main_buffer.values():
                    for x in [x for x in row if x >= new_cols]:
                        del row[x]
            self.main_cursor.x = min(self.main_cursor.x, new_cols - 1)
            self.main_cursor.y = min(self.main_cursor.y, new_lines - 1)
        super().resize(lines, columns)
