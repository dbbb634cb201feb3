"""Kept for older imports: :func:`start_failure` lives in :mod:`wsep_client.remote_errors`."""

from __future__ import annotations

from .remote_errors import start_failure

__all__ = ["start_failure"]
