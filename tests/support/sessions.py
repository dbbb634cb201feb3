"""Helpers for session tests: commands to run in a session, the ``server`` fixture's type."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from wsep_protocol import Command

if TYPE_CHECKING:
    from wsep_server.sessions import SessionManager

__all__ = ["PY", "ServerFactory", "py", "script"]

PY = sys.executable
_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The helper programs sessions run (tests/sessions/scripts).
SCRIPTS = os.path.join(_TESTS, "sessions", "scripts")
#: The ``server`` fixture: starts a server, returns its URL and session manager.
ServerFactory = Callable[..., Awaitable[tuple[str, "SessionManager"]]]


def py(code: str, *, tty: bool = True, rows: int = 0, cols: int = 0, stdin: bool = True) -> Command:
    """A Python one-off as a command."""
    return Command(PY, ("-u", "-c", code), stdin=stdin, tty=tty, rows=rows, cols=cols)


def script(name: str, *args: str, tty: bool = True, rows: int = 0, cols: int = 0) -> Command:
    """A helper script from tests/sessions/scripts."""
    path = os.path.join(SCRIPTS, name)
    return Command(PY, ("-u", path, *args), stdin=True, tty=tty, rows=rows, cols=cols)
