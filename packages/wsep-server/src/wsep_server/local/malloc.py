"""Opt-in glibc malloc tuning for large message buffers.

Buffers of 128 KiB and more are ``mmap``ed by glibc and returned with
``munmap`` on free, so every fresh 1 MiB message buffer page-faults anew.
Raising the mmap threshold keeps such buffers in the heap, and raising the
trim threshold keeps the freed heap top instead of returning it at once.
Process-wide, so it is the application's choice: call it once at start-up.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["M_MMAP_THRESHOLD", "M_TRIM_THRESHOLD", "tune_malloc"]

# From <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = 4 << 20, trim_threshold: int = 16 << 20) -> bool:
    """Set glibc's ``M_MMAP_THRESHOLD``/``M_TRIM_THRESHOLD``; ``False`` where not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok: bool = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    trimmed: bool = mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1
    return ok and trimmed
