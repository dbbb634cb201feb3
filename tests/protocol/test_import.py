"""The protocol package stays sans-I/O: importing it pulls in no event loop or HTTP stack."""

from __future__ import annotations

import subprocess
import sys


def test_import_loads_neither_asyncio_nor_aiohttp() -> None:
    code = (
        "import sys\n"
        "import wsep_protocol\n"
        "import wsep_protocol.malloc\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'asyncio', 'aiohttp'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_check_would_see_asyncio() -> None:
    """The subprocess check is live: a module that does import asyncio is reported."""
    code = "import sys, asyncio; print('asyncio' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "True"
