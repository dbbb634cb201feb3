"""What the fleet tests share besides fixtures."""

from __future__ import annotations

TOKEN = "fleet-token-0123456789abcdef"
