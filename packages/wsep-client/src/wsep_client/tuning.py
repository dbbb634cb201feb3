"""Opt-in process tuning for bulk transfers.

With WebSocket messages of 128 KiB and more, glibc's malloc serves large
buffers with fresh memory (``mmap``, or a heap it trims and grows again), so
each message page-faults its memory in again. Raising the mmap and trim
thresholds keeps those buffers on the heap. It changes allocator settings for
the whole process, so the library never does it on its own (the ``wsep`` CLI
does), and its own data path does not need it: readers hand out received
messages in pieces the allocator recycles, and stdin builds each message in
one reused buffer. What is left for this to win is aiohttp's per-message
buffers (``python -m bench`` compares both: ``throughput.*.sdk.tuned``).
"""

from __future__ import annotations

import sys

__all__ = ["tune_malloc"]

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


def tune_malloc(
    *,
    mmap_threshold: int = 4 << 20,
    trim_threshold: int = 16 << 20,
    top_pad: int = 16 << 20,
) -> bool:
    """Raise glibc's malloc thresholds; False where that is not possible (not glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
    ok = bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold)) and ok
    return bool(mallopt(_M_TOP_PAD, top_pad)) and ok
