"""pyte's screen with what a session needs: alternate screen, scrollback, speed.

pyte knows neither the alternate screen nor scrollback, and its ``draw`` costs
about 3 µs a character. :class:`EmulatedScreen` adds the first two (bounded by
:class:`TerminalLimits`) and a fast path for printable ASCII (≈ 4× faster).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import pyte
from pyte import modes as mo
from pyte.charsets import LAT1_MAP
from pyte.screens import Char, StaticDefaultDict

__all__ = ["EmulatedScreen", "TerminalLimits"]

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


class EmulatedScreen(pyte.Screen):
    """pyte's screen plus the alternate screen, a bounded scrollback and a fast ASCII draw."""

    def __init__(self, columns: int, lines: int, limits: TerminalLimits) -> None:
        self.limits = limits
        self.scrollback: deque[dict[int, Char]] = deque()
        self.scrollback_cells = 0
        self.alternate = False
        self.main_buffer: Any = None
        self.main_cursor: Any = None
        self._char_cache: dict[Char, dict[str, Char]] = {}
        super().__init__(columns, lines)

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
            super().draw(data)
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

    # --- scrollback --------------------------------------------------------

    def index(self) -> None:
        if not self.alternate and self.cursor.y == (
            self.lines - 1 if self.margins is None else self.margins.bottom
        ):
            top = 0 if self.margins is None else self.margins.top
            if top == 0:
                self._push_scrollback(self.buffer.get(0))
        super().index()

    def _push_scrollback(self, line: dict[int, Char] | None) -> None:
        limits = self.limits
        if limits.scrollback_lines <= 0:
            return
        line = {} if line is None else line  # index() drops it from the buffer: no copy
        self.scrollback.append(line)
        self.scrollback_cells += len(line)
        while self.scrollback and (
            len(self.scrollback) > limits.scrollback_lines
            or self.scrollback_cells > limits.scrollback_cells
        ):
            self.scrollback_cells -= len(self.scrollback.popleft())

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        super().erase_in_display(how, *args, **kwargs)
        if how == 3:  # "clear scrollback", as xterm does
            self.scrollback.clear()
            self.scrollback_cells = 0

    # --- alternate screen --------------------------------------------------

    def _fresh_buffer(self) -> Any:
        return defaultdict(lambda: StaticDefaultDict(self.default_char))

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
