"""mypy --strict on a snippet: for the tests of what the type checker accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["strict_mypy"]


def strict_mypy(tmp_path: Path, name: str, source: str) -> tuple[str, list[str], int]:
    """Run ``mypy --strict`` on ``source`` saved as ``name``: (output, error lines, status).

    Skips the test where mypy is not installed.
    """
    api = pytest.importorskip("mypy.api")
    snippet = tmp_path / name
    snippet.write_text(source)
    out, err, status = api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-error-summary",
            str(snippet),
        ]
    )
    return out + err, [line for line in out.splitlines() if ": error:" in line], status
