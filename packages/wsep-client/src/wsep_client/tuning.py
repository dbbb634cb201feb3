"""Opt-in process tuning for bulk transfers: :func:`wsep_protocol.malloc.tune_malloc`.

With WebSocket messages of 128 KiB and more, glibc's malloc serves large
buffers with fresh memory, so each message page-faults its memory in again.
It changes allocator settings for the whole process, so the library never
does it on its own (the ``wsep`` CLI does), and its own data path does not
need it: readers hand out received messages in pieces the allocator
recycles, and stdin builds each message in one reused buffer. What is left
for this to win is aiohttp's per-message buffers (``python -m bench``
compares both: ``throughput.*.sdk.tuned``).
"""

from __future__ import annotations

from wsep_protocol.malloc import tune_malloc

__all__ = ["tune_malloc"]
