"""Opt-in glibc malloc tuning for large message buffers, shared by server and client.

Buffers of 128 KiB and more are ``mmap``ed by glibc and returned with
``munmap`` on free (or come from a heap top it trims and grows again), so
every fresh 1 MiB message buffer page-faults its memory in anew. Raising the
mmap and trim thresholds (and the top pad) keeps such buffers on the heap.
It changes the allocator for the whole process, so it is the application's
choice, made once at start-up: ``wsep-server --tune-malloc`` (the default) and
the ``wsep`` CLI make it; the libraries never do on their own.

No I/O and no asyncio: one ``mallopt`` call per setting, through ctypes,
imported only when called.
"""

from __future__ import annotations

import os
import sys

__all__ = ["M_MMAP_THRESHOLD", "M_TOP_PAD", "M_TRIM_THRESHOLD", "tune_malloc"]

# From <malloc.h>.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3


def tune_malloc(
    mmap_threshold: int = 4 << 20,
    trim_threshold: int = 16 << 20,
    top_pad: int = 16 << 20,
) -> bool:
    """Raise glibc's malloc thresholds; False where that is not possible (not glibc)."""
    if not sys.platform.startswith("linux") or not _is_glibc():  # pragma: no cover - not glibc
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a libc without mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok: bool = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    trimmed: bool = mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1
    padded: bool = mallopt(M_TOP_PAD, top_pad) == 1
    return ok and trimmed and padded


def _is_glibc() -> bool:
    # confstr answers at once; platform.libc_ver() reads the interpreter's binary (~20 ms).
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):  # pragma: no cover - a libc that is not glibc
        return False
