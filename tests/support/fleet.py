"""What the fleet tests share besides fixtures."""

from __future__ import annotations

__all__ = ["TOKEN"]

TOKEN = "fleet-token-0123456789abcdef"
