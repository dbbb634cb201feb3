"""The local terminal for ``wsep run -t``: raw mode, restored on every exit path."""

from __future__ import annotations

import contextlib
import os
import termios
import tty
from collections.abc import Iterator

__all__ = ["raw_mode", "terminal_size"]


def terminal_size(fd: int = 1) -> tuple[int, int]:
    """(rows, cols) of the terminal on ``fd``, or (0, 0) (the server's default)."""
    for candidate in (fd, 0, 2):
        try:
            size = os.get_terminal_size(candidate)
        except OSError:
            continue
        return size.lines, size.columns
    return 0, 0


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Put the terminal on ``fd`` in raw mode (no echo, no line editing, no
    signal keys: Ctrl-C reaches the remote side as a byte) and restore it."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
