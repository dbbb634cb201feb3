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

Emulation is slow (pure Python), so output is applied in batches, plain text
that cannot show any more is skipped (see :meth:`TerminalState.apply`), and
the session does the work on the emulation executor (see
:mod:`.executor`), one batch at a time. Memory is bounded: the screen by its
size (clamped to ``max_rows`` × ``max_cols``), the scrollback by lines and
cells, the pending output by about two batches.

The emulator only observes: whatever the program writes, a failure in it is
contained here. Output goes through :class:`~.escapes.EscapeFilter` first
(what pyte cannot model is dropped), then to pyte. If pyte raises anyway
(feeding, resizing or rendering), the screen is rebuilt from the most recent
output (a bounded ring of raw bytes) one sequence at a time: the sequence
pyte raises on is logged (once per session, escaped) and skipped.
"""

from __future__ import annotations

import logging
import re
from collections import deque

import pyte

from .escapes import EscapeFilter
from .render import render_main, render_screen
from .screen import EmulatedScreen, TerminalLimits

__all__ = ["TerminalLimits", "TerminalState"]

#: Output that only prints text and sets colours: anything else (another control
#: character, another escape sequence, a C1 control in UTF-8) is "unsafe" to skip.
_UNSAFE = re.compile(
    rb"[\x00-\x06\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]|\xc2[\x80-\x9f]|\x1b(?!\[[0-9;:]*m)"
)
_SGR = re.compile(rb"\x1b\[[0-9;:]*m")
_log = logging.getLogger("wsep_server.sessions.terminal")
#: Filtered output cut into runs of text, single sequences and single control
#: characters (``split`` keeps the sequences and controls).
_SEQUENCES = re.compile(
    rb"(\x1b(?:\[[\x30-\x3f]*[\x40-\x7e]|\][^\x07]*\x07|[()#].|.)|[\x00-\x1a\x1c-\x1f])", re.S
)
#: Raw output kept to rebuild a broken screen from (about a few screens' worth).
_RECENT_BYTES = 1 << 16


class TerminalState:
    """The terminal of one session: feed it the output, ask it for a redraw.

    Two sides with separate state. The intake (:meth:`feed`, :meth:`resize`,
    :meth:`take_pending`, :meth:`requeue`) runs on the event loop only. The
    emulation (:meth:`apply`, the renders, and :attr:`size`/:attr:`alternate`,
    which apply what is pending) runs on one thread at a time: the session
    calls it on the emulation executor under its lock, so a batch is applied
    while the loop takes the next one in, and never two batches at once.
    Outside a session (tests, tools) everything may run on one thread.
    Terminal queries in the output
    are not answered (the attached clients' terminals answer them). Never
    raises for what the program wrote.
    """

    def __init__(
        self, rows: int, cols: int, limits: TerminalLimits | None = None, *, name: str = ""
    ) -> None:
        self.limits = limits or TerminalLimits()
        self.name = name
        rows, cols = self._clamp(rows, cols)
        self.screen = EmulatedScreen(cols, rows, self.limits)
        self.stream = pyte.ByteStream(self.screen)
        self.filter = EscapeFilter()
        #: Failures of the emulator contained so far (only the first is logged).
        self.failures = 0
        self._recent: deque[bytes] = deque()
        self._recent_bytes = 0
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
        owner calls once :attr:`flush_due` (the session does so on the emulation threads)."""
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
        """Detach what is pending, for :meth:`apply` elsewhere (e.g. the emulation threads)."""
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
                self._resize(*op)
            else:
                data.append(op)
        return self._feed_batch(b"".join(data), defer=defer)

    def _feed(self, data: bytes) -> None:
        if data:
            self._remember(data)
            self._emulate(data)
            self.bytes_fed += len(data)

    def _emulate(self, data: bytes) -> None:
        """Filtered output to pyte; if pyte raises, the screen is rebuilt (see :meth:`_rebuild`)."""
        filtered = self.filter.feed(data)
        if not filtered:
            return
        try:
            self.stream.feed(filtered)
        except Exception as exc:
            failures = self.failures
            self._rebuild()
            if self.failures == failures:  # the rebuild did not meet it again: say what it was
                self._failed("feeding", filtered, exc)

    def _emulate_each(self, data: bytes) -> None:
        """Like :meth:`_emulate`, a piece at a time: a piece pyte raises on is skipped."""
        feed = self.stream.feed
        for piece in _SEQUENCES.split(self.filter.feed(data)):
            if piece:
                try:
                    feed(piece)
                except Exception as exc:
                    self._failed("feeding", piece, exc)

    def _remember(self, data: bytes) -> None:
        recent = self._recent
        recent.append(data[-_RECENT_BYTES:])
        self._recent_bytes += len(recent[-1])
        while self._recent_bytes - len(recent[0]) >= _RECENT_BYTES:
            self._recent_bytes -= len(recent.popleft())

    def _failed(self, what: str, data: bytes, exc: BaseException) -> None:
        self.failures += 1
        if self.failures == 1:
            _log.warning(
                "session %r: terminal emulator failed %s %s: %r (contained; later failures "
                "of this session are not logged)",
                self.name,
                what,
                ascii(data[:200]),
                exc,
            )

    def _rebuild(self, rows: int = 0, cols: int = 0) -> None:
        """A fresh screen (this size, or the same) from the most recent output.

        It is fed one sequence at a time, so that a sequence pyte raises on
        is logged and skipped, and nothing else of the recent output is lost.
        """
        rows, cols = rows or self.screen.lines, cols or self.screen.columns
        self.screen = EmulatedScreen(cols, rows, self.limits)
        self.stream = pyte.ByteStream(self.screen)
        self.filter = EscapeFilter()
        self._emulate_each(b"".join(self._recent))

    def _resize(self, rows: int, cols: int) -> None:
        try:
            self.screen.resize(rows, cols)
        except Exception as exc:
            self._failed("resizing", f"{rows}x{cols}".encode(), exc)
            self._rebuild(rows, cols)

    def _feed_batch(self, data: bytes, *, defer: bool) -> bytes:
        span = self._skippable(data)
        if span is None:
            self._feed(data)
            return b""
        start, end = span
        self._feed(data[:start])
        screen = self.screen
        if screen.alternate or screen.margins is not None or not self.filter.idle:
            self._feed(data[start:])  # as the prefix left it: nothing may be skipped
            return b""
        # Colour changes still matter for the pen: those after the last reset.
        reset = max(data.rfind(b"\x1b[0m", start, end), data.rfind(b"\x1b[m", start, end))
        self._emulate(b"".join(_SGR.findall(data, max(start, reset), end)))
        self._remember(data[max(start, end - _RECENT_BYTES) : end])
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
        try:
            return render_screen(self.screen)
        except Exception as exc:
            self._failed("rendering", b"", exc)
        try:
            self._rebuild()
            return render_screen(self.screen)
        except Exception as exc:
            self._failed("rendering a rebuilt screen", b"", exc)
            self.screen = EmulatedScreen(self.screen.columns, self.screen.lines, self.limits)
            self.stream = pyte.ByteStream(self.screen)
            return render_screen(self.screen)

    def render_main_now(self) -> tuple[bytes, bytes]:
        """The main screen's rows, for a client that attached while the alternate one showed."""
        try:
            return render_main(self.screen)
        except Exception as exc:
            self._failed("rendering the main screen", b"", exc)
            return b"", b""
