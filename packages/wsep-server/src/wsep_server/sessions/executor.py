"""The threads terminal emulation runs on: its own small pool, shared with nothing else.

Emulation is CPU-bound pure Python. On the event loop's default executor it
competed with password hashing (an unauthenticated flood of Basic logins
slowed every session's output), and the default pool's size grows with the
CPU count. Here a fixed pool of ``WORKERS`` threads serves every session;
each session runs one job at a time on it (under its own lock), so one
emulator is only ever driven by one thread at a time, while the event loop
only queues output for it (see ``TerminalState``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["WORKERS", "run_emulation"]

T = TypeVar("T")

#: Threads for all sessions' emulators: enough to overlap two busy sessions,
#: bounded so emulation never takes more than that many cores.
WORKERS = 2
_THREAD_PREFIX = "wsep-terminal"

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix=_THREAD_PREFIX)
        return _pool


async def run_emulation(job: Callable[[], T]) -> T:
    """Run ``job`` on the emulation threads and wait for its result."""
    return await asyncio.get_running_loop().run_in_executor(_executor(), job)
