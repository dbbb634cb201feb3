"""Sizes and helpers shared by the client tests."""

from __future__ import annotations

import os

#: Full-size transfers only with WSEP_FULL=1 (CI runs the suite four times).
FULL = os.environ.get("WSEP_FULL") == "1"
#: Bytes each way for the SDK streaming test.
BIG = 100_000_000 if FULL else 12_000_000
#: Bytes each way for ``wsep cp``.
CP_SIZE = 50_000_000 if FULL else 8_000_000
