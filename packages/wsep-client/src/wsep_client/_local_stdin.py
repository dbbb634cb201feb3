"""This process's stdin as chunks, for ``wsep run`` (one remote) and its fleet form (many)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

__all__ = ["READ_SIZE", "stdin_chunks"]

READ_SIZE = 1 << 20


async def stdin_chunks(fd: int = 0, size: int = READ_SIZE) -> AsyncIterator[bytes]:
    """Chunks read from ``fd`` until EOF, without blocking the event loop.

    A pipe or terminal is watched only while a read is wanted, so a consumer
    that is slow to take the next chunk (remote backpressure) leaves the fd
    alone meanwhile. A regular file or /dev/null, which a loop cannot watch,
    is read in a worker thread: such reads never wait for input, so no thread
    is left blocked at exit.
    """
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    try:
        loop.add_reader(fd, ready.set)
    except (PermissionError, OSError, ValueError):
        selectable = False  # a regular file or /dev/null: reads never block
    else:
        selectable = True
        loop.remove_reader(fd)
    while True:
        if selectable:
            ready.clear()
            loop.add_reader(fd, ready.set)
            try:
                await ready.wait()
            finally:
                loop.remove_reader(fd)
            try:
                data = os.read(fd, size)
            except BlockingIOError:
                continue
        else:
            data = await loop.run_in_executor(None, os.read, fd, size)
        if not data:
            return
        yield data
