"""The server's terminal copy: re-rendering, alternate screen, scrollback, bounded memory."""

from __future__ import annotations

import pytest
from wsep_server.sessions import TerminalLimits, TerminalState


def _replayed(state: TerminalState) -> TerminalState:
    rows, cols = state.size
    copy = TerminalState(rows, cols, state.limits)
    copy.feed(state.render())
    copy.flush()
    return copy


def _same(a: TerminalState, b: TerminalState) -> None:
    assert a.display() == b.display()
    sa, sb = a.screen, b.screen
    assert (sa.cursor.x, sa.cursor.y, sa.cursor.hidden) == (
        sb.cursor.x,
        sb.cursor.y,
        sb.cursor.hidden,
    )
    assert sa.cursor.attrs == sb.cursor.attrs
    assert a.alternate == b.alternate
    for y in range(sa.lines):  # attributes and colours too
        for x in range(sa.columns):
            assert sa.buffer[y][x] == sb.buffer[y][x], (y, x)


def test_render_redraws_colours_cursor_title_and_modes() -> None:
    state = TerminalState(10, 40)
    state.feed(b"plain \x1b[1;31mbold red\x1b[0m \x1b[4;44munder blue\x1b[0m\r\n")
    state.feed("wide \u4e2d\u6587 and \x1b[38;2;10;20;30mtruecolor\x1b[m\r\n".encode())
    state.feed(b"\x1b]2;the title\x07\x1b[?2004h\x1b[?1h\x1b[?1000h\x1b[3;5H\x1b[7mpen")
    copy = _replayed(state)
    _same(state, copy)
    assert copy.screen.title == "the title"
    for mode in (2004, 1, 1000):
        assert mode << 5 in copy.screen.mode


def test_render_keeps_a_bounded_scrollback() -> None:
    limits = TerminalLimits(scrollback_lines=50)
    state = TerminalState(5, 20, limits)
    for i in range(200):
        state.feed(f"line {i}\r\n".encode())
    assert state.scrollback_text() == [f"line {i}" for i in range(146, 196)]
    render = state.render()
    assert b"line 145" not in render
    assert b"line 146" in render
    assert b"line 199" in render
    copy = _replayed(state)
    assert copy.display() == state.display()
    assert copy.scrollback_text()[-50:] == state.scrollback_text()


def test_alternate_screen_is_rendered_alone_and_the_main_one_after_it() -> None:
    state = TerminalState(6, 30)
    state.feed(b"shell prompt $ vi\r\n")
    state.feed(b"\x1b[?1049h\x1b[H\x1b[2Jfull screen app\x1b[4;3H\x1b[32mgreen\x1b[?25l")
    assert state.alternate
    render = state.render()
    assert b"\x1b[?1049h" in render
    assert b"shell prompt" not in render
    rows, cursor = state.render_main_now()
    assert b"shell prompt $ vi" in rows
    copy = _replayed(state)
    _same(state, copy)
    # Leaving the alternate screen shows the main screen again, on both (the
    # copy as a client that attached meanwhile gets it: repainted after the switch).
    state.feed(b"\x1b[?1049l")
    copy.feed(b"\x1b[?1049l" + rows + cursor)
    assert not state.alternate
    assert not copy.alternate
    assert state.display()[0].startswith("shell prompt $ vi")
    _same(state, copy)


def test_terminal_queries_are_not_rendered() -> None:
    state = TerminalState(24, 80)
    state.feed(b"\x1b[?1049h\x1b[2J\x1b[Hdrawn\x1b[c\x1b[6n\x1b[>c\x1b[5n")
    render = state.render()
    for query in (b"\x1b[c", b"\x1b[6n", b"\x1b[>c", b"\x1b[5n"):
        assert query not in render
    assert b"drawn" in render


def test_resize_follows_the_output_order() -> None:
    state = TerminalState(24, 80)
    state.feed(b"x" * 100)
    state.resize(10, 50)
    state.feed(b"\r\nafter")
    assert state.size == (10, 50)
    assert state.display()[-1].startswith("after") or "after" in "".join(state.display())
    assert TerminalState(100_000, 100_000).size == (500, 1000)  # clamped: bounded memory


def _lines(n: int, start: int = 0) -> bytes:
    return b"".join(
        b"row %d \x1b[3%dmcolour\x1b[0m and text\r\n" % (i, i % 8) for i in range(start, start + n)
    )


def test_plain_text_batches_skip_only_what_cannot_show() -> None:
    limits = TerminalLimits(scrollback_lines=30, batch_bytes=1 << 30)
    fast = TerminalState(8, 60, limits)
    slow = TerminalState(8, 60, limits)
    data = _lines(6_000) + b"\x1b[1;35mpen stays"
    fast.feed(data)
    fast.flush()
    for i in range(0, len(data), 1000):  # small feeds: nothing skippable
        slow.feed(data[i : i + 1000])
        slow.flush()
    assert fast.bytes_skipped > len(data) * 0.9
    assert slow.bytes_skipped == 0
    _same(fast, slow)
    assert fast.scrollback_text() == slow.scrollback_text()


def test_output_that_moves_the_cursor_is_never_skipped() -> None:
    limits = TerminalLimits(scrollback_lines=10, batch_bytes=1 << 30)
    state = TerminalState(8, 60, limits)
    state.feed(_lines(1000) + b"\x1b[?1049h" + _lines(1000))
    state.flush()
    assert state.bytes_skipped == 0
    assert state.alternate


@pytest.mark.parametrize("chunk", [b"y\r\n", b"\x1b[2J\x1b[H\x1b[31mred" * 7 + b"\r\n"])
def test_endless_output_keeps_memory_at_the_bound(chunk: bytes) -> None:
    limits = TerminalLimits(scrollback_lines=100, scrollback_cells=2_000, batch_bytes=16 << 10)
    state = TerminalState(24, 80, limits)
    block = chunk * (4096 // len(chunk))
    for _ in range(40):
        if state.flush_due:
            state.flush()
        state.feed(block)
        assert state.pending_bytes < limits.batch_bytes + len(block)
        assert len(state.screen.scrollback) <= limits.scrollback_lines
        assert state.screen.scrollback_cells <= limits.scrollback_cells
        assert len(state.screen.buffer) <= 24
    assert state.bytes_in == 40 * len(block)


def test_a_flood_after_escape_sequences_is_still_skipped_and_can_wait() -> None:
    limits = TerminalLimits(scrollback_lines=30, batch_bytes=1 << 30)
    prompt = b"\x1b]0;title\x07\x1b[1;32muser@host\x1b[0m:~$ cat log\r\n"
    data = prompt + _lines(6_000) + b"\x1b[2;3Hmoved"
    lazy = TerminalState(8, 60, limits)
    reference = TerminalState(8, 60, limits)
    lazy.feed(data[: len(data) // 2])
    rest = lazy.apply(lazy.take_pending(), defer=True)  # the tail is handed back ...
    assert 0 < len(rest) < len(data) // 4
    assert lazy.bytes_fed < len(prompt) + 100  # ... and nothing of the flood was emulated
    lazy.requeue(rest)
    lazy.feed(data[len(data) // 2 :])
    for i in range(0, len(data), 1000):
        reference.feed(data[i : i + 1000])
        reference.flush()
    _same(lazy, reference)
    assert lazy.scrollback_text() == reference.scrollback_text()
    assert lazy.screen.title == "title"
