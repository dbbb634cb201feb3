"""The connection handler: one WebSocket connection, one process."""

from __future__ import annotations

from .handler import Session, error_code_for

__all__ = ["Session", "error_code_for"]
