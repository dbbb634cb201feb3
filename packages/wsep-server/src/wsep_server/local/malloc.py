"""Kept for older imports: the tuning is :mod:`wsep_protocol.malloc`, shared with the client."""

from __future__ import annotations

from wsep_protocol.malloc import M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, tune_malloc

__all__ = ["M_MMAP_THRESHOLD", "M_TRIM_THRESHOLD", "tune_malloc"]
