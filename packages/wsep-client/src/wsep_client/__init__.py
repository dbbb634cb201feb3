"""wsep client: run commands on a wsep server from Python or the shell."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
