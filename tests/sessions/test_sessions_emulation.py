"""The emulator takes whatever a program writes: filtered, contained, line-oriented redraws."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import FULL
from support.sessions import UNSUPPORTED
from wsep_server.sessions import TerminalState
from wsep_server.sessions.escapes import EscapeFilter
from wsep_server.sessions.screen import EmulatedScreen


def _plain(state: TerminalState) -> list[str]:
    return [line.rstrip() for line in state.display() if line.strip()]


@pytest.mark.parametrize("sequence", UNSUPPORTED, ids=lambda s: ascii(s[:24]))
def test_every_sequence_leaves_the_text_around_it_alone(sequence: bytes) -> None:
    for whole in (True, False):
        state = TerminalState(5, 40)
        data = b"A" + sequence + b"Z"
        if whole:
            state.feed(data)
        else:  # a sequence split across reads, at every byte
            for i in range(len(data)):
                state.feed(data[i : i + 1])
                state.flush()
        lines = _plain(state)
        assert lines[0].replace("\ufffd", "") == "AZ", (sequence, lines)
        assert state.failures == 0
        copy = TerminalState(5, 40)
        copy.feed(state.render())
        assert _plain(copy) == lines


def test_colon_and_private_sgr_set_the_pen_as_a_terminal_does() -> None:
    state = TerminalState(5, 40)
    state.feed(b"\x1b[?4m\x1b[38:2::10:20:30mT\x1b[0m\x1b[4:3mU\x1b[4:0mN\xc2\x9b1mB")
    state.flush()
    row = state.screen.buffer[0]
    assert row[0].data == "T"
    assert row[0].fg == "0a141e"
    assert row[1].underscore
    assert not row[2].underscore
    assert row[3].bold


def test_a_failing_emulator_is_contained_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: EmulatedScreen, *attrs: int, **kwargs: object) -> None:
        raise RuntimeError("emulator bug")

    monkeypatch.setattr(EmulatedScreen, "select_graphic_rendition", broken)
    state = TerminalState(5, 40, name="sess")
    with caplog.at_level(logging.WARNING, "wsep_server.sessions.terminal"):
        state.feed(b"before\x1b[1mafter\r\n\x1b[31mnext line")
        assert _plain(state) == ["beforeafter", "next line"]
    assert state.failures == 2
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 1
    assert "'sess'" in logged[0]
    assert "\\x1b[1m" in logged[0]
    assert "emulator bug" in logged[0]


def test_a_failing_resize_and_render_rebuild_the_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    state = TerminalState(5, 40)
    state.feed(b"kept line\r\n")
    state.flush()
    original = EmulatedScreen.resize

    def broken(self: EmulatedScreen, lines: int | None = None, columns: int | None = None) -> None:
        raise RuntimeError("resize bug")

    monkeypatch.setattr(EmulatedScreen, "resize", broken)
    state.resize(6, 30)
    assert state.size == (6, 30)
    assert _plain(state) == ["kept line"]
    monkeypatch.setattr(EmulatedScreen, "resize", original)
    assert state.failures == 1


def test_a_wrapped_line_is_redrawn_as_one_run_and_rows_end_with_crlf() -> None:
    state = TerminalState(5, 24)
    command = b"# echo test:$((123456+123456))"
    state.feed(command + b"\r\ntest:246912\r\n# ")
    render = state.render()
    assert command + b"\r\ntest:246912\r\n#" in render
    assert render.endswith(b"\x1b[4;3H\x1b[0m\x1b[?25h")
    # Wrapped lines stay whole when they scroll into the scrollback.
    for i in range(8):
        state.feed(b"x" * 30 + f" line {i}\r\n".encode())
    render = state.render()
    for i in range(7):
        assert b"x" * 30 + f" line {i}\r\n".encode() in render
    assert b"x" * 30 + b" line 7\x1b[5;1H" in render
    copy = TerminalState(5, 24)
    copy.feed(render)
    assert copy.display() == state.display()


def test_no_trailing_blank_rows_and_erased_rows_are_no_longer_wrapped() -> None:
    state = TerminalState(6, 10)
    state.feed(b"0123456789abc\x1b[H\x1b[2Jtop")
    render = state.render()
    body = render.split(b"\x1b[H\x1b[2J", 1)[1]
    assert body.startswith(b"top\x1b[1;4H")
    assert b"\r\n" not in body


def test_colours_inside_a_wrapped_line_and_blank_cells_keep_the_picture() -> None:
    state = TerminalState(4, 10)
    state.feed(b"ab  \x1b[41m  \x1b[0mcdefghij\r\nend")
    state.flush()
    copy = TerminalState(4, 10)
    copy.feed(state.render())
    assert copy.display() == state.display()
    for y in range(4):
        for x in range(10):
            assert copy.screen.buffer[y][x] == state.screen.buffer[y][x]


def test_a_reset_leaves_the_alternate_screen() -> None:
    state = TerminalState(4, 20)
    state.feed(b"main\x1b[?1049halt\x1bcafter reset")
    assert not state.alternate
    assert _plain(state) == ["after reset"]


def test_the_filter_keeps_titles_and_drops_long_strings_without_holding_them() -> None:
    f = EscapeFilter()
    assert f.feed(b"\x1b]2;my title\x1b\\") == b"\x1b]2;my title\x07"
    assert f.feed(b"\x1bP" + b"q" * 100_000) == b""
    assert not f.idle
    assert f.feed(b"#0~" * 1000 + b"\x1b\\done") == b"done"
    assert f.idle
    # As in xterm.js: any other ESC ends a string and starts a sequence of its own.
    assert f.feed(b"\x1bP0+r\x1b[1mbold\x1b]2;cut\x1b[0m") == b"\x1b[1mbold\x1b[0m"
    assert f.idle
    assert f.feed(b"\x1b]2;split\x1b") == b""  # ST may follow
    assert f.feed(b"\\\x1bPq\x1b") + f.feed(b"\\after") == b"\x1b]2;split\x07after"


_FRAGMENTS = st.sampled_from(
    [
        *UNSUPPORTED,
        b"\x1b",
        b"\x1b[",
        b"\x1b[?",
        b"\x1b]",
        b"\x1bP",
        b"\xc2",
        b"\x07",
        b"\x18",
        b"\r\n",
        b"\n",
        b"\t",
        b"\x08",
        b"\x1b[?1049h",
        b"\x1b[?1049l",
        b"\x1b[?47h",
        b"\x1b[?1047l",
        b"\x1b[2;5r",
        b"\x1b[r",
        b"\x1b[?6h",
        b"\x1b[?7l",
        b"\x1b[4h",
        b"\x1b[L",
        b"\x1b[3M",
        b"\x1bM",
        b"\x1bD",
        b"\x1b7",
        b"\x1b8",
        b"\x1bc",
        b"\x1b#8",
        b"\x1b(0lqk\x1b(B",
        b"\x1b[3J",
        b"\x1b[9999;9999H",
        b"\x1b[5@",
        b"\x1b[5P",
        b"\x1b[5X",
        "wide \u4e2d\u6587 e\u0301".encode(),
        b"plain text ",
        b"x" * 50,
    ]
)


#: Any control sequence: parameters (private markers, colons) and any final byte.
_CSI = st.builds(
    lambda intro, params, inter, final: intro + params + inter + bytes([final]),
    st.sampled_from([b"\x1b[", b"\xc2\x9b"]),
    st.from_regex(rb"\A[0-9;:?<=>]{0,12}\Z"),
    st.sampled_from([b"", b" ", b"$", b"!", b"'"]),
    st.integers(0x40, 0x7E),
)
#: Any other escape sequence: ESC, an intermediate perhaps, a final byte.
_ESC = st.builds(
    lambda inter, final: b"\x1b" + inter + bytes([final]),
    st.sampled_from([b"", b"(", b")", b"#", b"%", b" ", b"*"]),
    st.integers(0x30, 0x7E),
)


@settings(
    max_examples=400 if FULL else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(st.one_of(_FRAGMENTS, _CSI, _ESC, st.binary(max_size=12)), max_size=40),
    st.lists(st.tuples(st.integers(1, 30), st.integers(1, 90)), max_size=2),
    st.integers(1, 64),
)
def test_random_and_mutated_output_never_breaks_the_emulator(
    pieces: list[bytes], sizes: list[tuple[int, int]], chunk: int
) -> None:
    state = TerminalState(6, 20)
    data = b"".join(pieces)
    for i in range(0, len(data), chunk):
        state.feed(data[i : i + chunk])
        if sizes and i == 0:
            state.resize(*sizes[0])
    for size in sizes[1:]:
        state.resize(*size)
    render = state.render()
    state.render_main_now()
    assert state.failures == 0
    copy = TerminalState(*state.size)
    copy.feed(render)
    assert copy.failures == 0
    copy.render()
