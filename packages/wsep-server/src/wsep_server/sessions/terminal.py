"""The server's copy of a session's terminal, and its re-rendering for a reattaching client.

A reattaching client must see the current screen, not the raw byte history:
replaying the history would re-send terminal queries (``ESC [ c``,
``ESC [ 6 n``) whose answers the program would then read as input, replay
screens long gone, and cost memory without bound. So the output of every
session is fed to a terminal emulator (pyte) and a reattach gets
:meth:`TerminalState.render`: escape sequences that redraw the screen (with
attributes and colours), a bounded scrollback, the alternate screen when it is
active, the modes a program set (cursor keys, bracketed paste, mouse), the
cursor position, pen and visibility, and the title.

pyte knows neither the alternate screen nor scrollback, and its ``draw`` costs
about 3 µs a character; :class:`_Screen` adds the first two and a fast path for
printable ASCII (≈ 10× faster). Memory is bounded: the screen by its size
(clamped to ``max_rows`` × ``max_cols``), the scrollback by lines and cells.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyte
from pyte import modes as mo
from pyte.charsets import LAT1_MAP
from pyte.screens import Char, StaticDefaultDict

__all__ = ["TerminalLimits", "TerminalState"]

_ALT_MODES = frozenset({1049 << 5, 1047 << 5, 47 << 5})
#: Private modes re-emitted as they are (``ESC [ ? n h``) when set: cursor keys,
#: reverse wrap, mouse reporting, focus events, bracketed paste, sync output.
_PRIVATE_MODES = (1, 45, 1000, 1002, 1003, 1004, 1005, 1006, 1015, 2004)
_NAMED = ("black", "red", "green", "brown", "blue", "magenta", "cyan", "white")
_FG = {name: 30 + i for i, name in enumerate(_NAMED)}
_BG = {name: 40 + i for i, name in enumerate(_NAMED)}
_FG.update({"bright" + name: 90 + i for i, name in enumerate(_NAMED)})
_BG.update({"bright" + name: 100 + i for i, name in enumerate(_NAMED)})
_BG["bfightmagenta"] = 105  # pyte's spelling of SGR 105
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))
_CACHE_ATTRS = 256
#: Output that only prints text and sets colours: anything else (another control
#: character, another escape sequence, a C1 control in UTF-8) is "unsafe" to skip.
_UNSAFE = re.compile(
    rb"[\x00-\x06\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]|\xc2[\x80-\x9f]|\x1b(?!\[[0-9;:]*m)"
)
_SGR = re.compile(rb"\x1b\[[0-9;:]*m")


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


class _Screen(pyte.Screen):
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


class TerminalState:
    """The terminal of one session: feed it the output, ask it for a redraw.

    Not thread-safe; the session feeds it from one task. Terminal queries in
    the output are not answered (the attached clients' terminals answer them).
    """

    def __init__(self, rows: int, cols: int, limits: TerminalLimits | None = None) -> None:
        self.limits = limits or TerminalLimits()
        rows, cols = self._clamp(rows, cols)
        self.screen = _Screen(cols, rows, self.limits)
        self.stream = pyte.ByteStream(self.screen)
        #: Bytes received, bytes that went through pyte, bytes skipped unread.
        self.bytes_in = 0
        self.bytes_fed = 0
        self.bytes_skipped = 0
        self._pending: list[bytes | tuple[int, int]] = []
        self._pending_bytes = 0

    def _clamp(self, rows: int, cols: int) -> tuple[int, int]:
        return max(1, min(rows, self.limits.max_rows)), max(1, min(cols, self.limits.max_cols))

    @property
    def size(self) -> tuple[int, int]:
        """(rows, cols) of the emulated screen (pending output applied first)."""
        self.flush()
        return self.screen.lines, self.screen.columns

    @property
    def alternate(self) -> bool:
        """Whether the alternate screen is active (pending output applied first)."""
        self.flush()
        return bool(self.screen.alternate)

    @property
    def pending_bytes(self) -> int:
        """Output received but not yet applied (at most about ``batch_bytes``)."""
        return self._pending_bytes

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Take output. It is applied by :meth:`flush` (or :meth:`apply`), which the
        owner calls once :attr:`flush_due` (the session does so in a worker thread)."""
        if not len(data):
            return
        self._pending.append(bytes(data))
        self._pending_bytes += len(data)
        self.bytes_in += len(data)

    @property
    def flush_due(self) -> bool:
        """A whole batch is pending: apply it before feeding more (bounded memory)."""
        return self._pending_bytes >= self.limits.batch_bytes

    def resize(self, rows: int, cols: int) -> None:
        """Resize at this point of the output stream."""
        self._pending.append(self._clamp(rows, cols))

    def take_pending(self) -> list[bytes | tuple[int, int]]:
        """Detach what is pending, for :meth:`apply` elsewhere (e.g. a worker thread)."""
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        return pending

    def requeue(self, data: bytes) -> None:
        """Put output :meth:`apply` deferred back in front of what is pending."""
        if data:
            self._pending.insert(0, data)
            self._pending_bytes += len(data)

    def flush(self) -> None:
        self.apply(self.take_pending())

    def apply(self, ops: list[bytes | tuple[int, int]], *, defer: bool = False) -> bytes:
        """Apply output and resizes in order, skipping plain text that cannot show.

        With ``defer``, the plain-text tail of a skippable batch is returned
        instead of applied (give it to :meth:`requeue`): a flood of plain text
        then costs a regular expression scan per batch and no emulation until
        a redraw is needed.
        """
        data: list[bytes] = []
        for op in ops:
            if isinstance(op, tuple):
                self._feed_batch(b"".join(data), defer=False)
                data.clear()
                self.screen.resize(*op)
            else:
                data.append(op)
        return self._feed_batch(b"".join(data), defer=defer)

    def _feed(self, data: bytes) -> None:
        if data:
            self.stream.feed(data)
            self.bytes_fed += len(data)

    def _feed_batch(self, data: bytes, *, defer: bool) -> bytes:
        span = self._skippable(data)
        if span is None:
            self._feed(data)
            return b""
        start, end = span
        self._feed(data[:start])
        screen = self.screen
        if screen.alternate or screen.margins is not None:  # as the prefix left it
            self._feed(data[start:])
            return b""
        # Colour changes still matter for the pen: those after the last reset.
        reset = max(data.rfind(b"\x1b[0m", start, end), data.rfind(b"\x1b[m", start, end))
        self.stream.feed(b"".join(_SGR.findall(data, max(start, reset), end)))
        self.bytes_skipped += end - start
        if defer:
            return data[end:]
        self._feed(data[end:])
        return b""

    def _skippable(self, data: bytes) -> tuple[int, int] | None:
        """The span of ``data`` whose lines would scroll out of the scrollback anyway.

        Plain text with colours (no cursor movement, no modes; after the line
        of the last other control sequence), when the screen is the main one
        without scroll margins: then the last ``2 × rows + scrollback`` lines
        alone decide the screen and the scrollback, and the skipped span only
        matters for the pen (its colour changes are still applied).
        """
        keep = 2 * self.screen.lines + self.limits.scrollback_lines + 1
        if len(data) < 64 * keep:
            return None
        end = len(data)
        for _ in range(keep):
            end = data.rfind(b"\n", 0, end)
            if end < 0:
                return None
        end += 1  # keep from just after a newline
        last = 0
        for match in _UNSAFE.finditer(data, 0, end):
            last = match.end()
        start = data.find(b"\n", last, end) + 1 if last else 0
        if start < 0 or end - start < len(data) // 4:
            return None
        return start, end

    def display(self) -> list[str]:
        """The visible lines as text (for tests and inspection)."""
        self.flush()
        return list(self.screen.display)

    def scrollback_text(self) -> list[str]:
        self.flush()
        return [
            "".join(row[x].data for x in sorted(row)).rstrip() for row in self.screen.scrollback
        ]

    def render(self) -> bytes:
        """Escape sequences that make a fresh terminal show what this one shows."""
        self.flush()
        return self.render_now()

    def render_now(self) -> bytes:
        """:meth:`render` without applying pending output first (see :meth:`take_pending`)."""
        screen = self.screen
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
        self._render_rows(main, rows, columns, out)
        if screen.alternate:
            cursor = screen.main_cursor
            out.append(f"\x1b[{cursor.y + 1};{min(cursor.x, columns - 1) + 1}H")
            out.append(sgr(cursor.attrs))
            out.append("\x1b[?1049h\x1b[H\x1b[2J")
            self._render_rows(screen.buffer, rows, columns, out)
        self._render_modes(out)
        cursor = screen.cursor
        y = cursor.y
        if mo.DECOM in screen.mode and screen.margins is not None:
            y -= screen.margins.top
        out.append(f"\x1b[{y + 1};{min(cursor.x, columns - 1) + 1}H")
        out.append(sgr(cursor.attrs))
        out.append("\x1b[?25l" if cursor.hidden else "\x1b[?25h")
        return "".join(out).encode("utf-8", "replace")

    @staticmethod
    def _render_rows(buffer: Mapping[int, Any], rows: int, columns: int, out: list[str]) -> None:
        for y in range(rows):
            row = buffer.get(y)
            if row:
                out.append(f"\x1b[{y + 1};1H")
                _render_line(row, columns, out)

    def _render_modes(self, out: list[str]) -> None:
        screen = self.screen
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
