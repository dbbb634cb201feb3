"""The local execer: commands run as children of the server, over pipes or a PTY."""

from __future__ import annotations

from .execer import DEFAULT_COLS, DEFAULT_ROWS, LocalExecer
from .process import LocalProcess
from .reader import FramedReader, PipeReader
from .writer import PipeWriter

__all__ = [
    "DEFAULT_COLS",
    "DEFAULT_ROWS",
    "FramedReader",
    "LocalExecer",
    "LocalProcess",
    "PipeReader",
    "PipeWriter",
]
