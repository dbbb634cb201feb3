"""Helpers the test areas share: plain functions, classes and constants, never fixtures.

Fixtures live in the ``conftest.py`` files (pytest's way); everything a test
imports lives here once, as ``from support.<module> import ...`` (pyproject's
pytest ``pythonpath`` puts ``tests/`` on ``sys.path``). Modules by topic:

- ``proc``: /proc checks for leaked processes, zombies and fds.
- ``rawws``: a WebSocket client built from raw frames; ``wire``: wsep
  messages over it (``start_bytes``, ``header``, ``collect``, ``run``).
- ``streams``: read a stream until a marker or EOF.
- ``cli``: run the real ``wsep`` console script.
- one module per area for what only that area needs (``security``, ``web``,
  ``sessions``, ``reliability``, ``ops``, ``client``, ``fleet``, ``localexec``).
- ``typecheck``: ``mypy --strict`` on a snippet (what the types accept).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

__all__ = ["FULL", "REPO", "TIMEOUT", "scaled", "write_executable"]

T = TypeVar("T")

#: The checkout: the monorepo root (deploy/, packages/, scripts/ ...).
REPO = Path(__file__).resolve().parents[2]

#: A generous limit for one wait in a test (a hang, never a slow machine, trips it).
TIMEOUT = 30.0

#: Full sizes only with WSEP_FULL=1 (CI runs the suite on four interpreters).
FULL = os.environ.get("WSEP_FULL") == "1"


def scaled(ci: T, full: T) -> T:
    """``full`` under ``WSEP_FULL=1``, else ``ci``."""
    return full if FULL else ci


def write_executable(path: Path, text: str) -> Path:
    """A script at ``path`` (``text`` starts with its ``#!`` line), mode 0755."""
    path.write_text(text)
    path.chmod(0o755)
    return path
