"""Background tasks the server starts: owned, their failures logged, cancellation kept.

asyncio keeps only a weak reference to a task, and a task nobody awaits drops
its exception with a late "never retrieved" warning. Every task the server
starts in the background is held by an :class:`OwnedTasks` (until it is done;
its failure is logged) and cancelled when its owner closes.

Waiting for a task that was cancelled must not swallow a cancellation of the
waiter itself (``suppress(CancelledError)`` around ``await task`` does):
:func:`settle` waits with :func:`asyncio.wait`, which raises only when the
waiter is cancelled, on every Python version (``Task.cancelling`` is 3.11+).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["OwnedTasks", "cancel_and_settle", "settle"]

T = TypeVar("T")


def _log_failure(task: asyncio.Future[Any], log: logging.Logger, what: str) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("%s failed", what, exc_info=exc)


async def settle(task: asyncio.Future[Any], log: logging.Logger, what: str) -> None:
    """Wait until ``task`` is done; its failure or cancellation is logged or ignored.

    Raises ``CancelledError`` only when the caller is cancelled (``task`` then
    keeps running: cancel it first when it should not).
    """
    if not task.done():
        await asyncio.wait((task,))
    _log_failure(task, log, what)


async def cancel_and_settle(task: asyncio.Future[Any], log: logging.Logger, what: str) -> None:
    """Cancel ``task`` and wait until it is done (see :func:`settle`)."""
    task.cancel()
    await settle(task, log, what)


class OwnedTasks:
    """Tasks started on behalf of one owner; ``close()`` cancels and waits for them."""

    def __init__(self, log: logging.Logger, owner: str) -> None:
        self._log = log
        self._owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, T], what: str) -> asyncio.Task[T] | None:
        """Run ``coro`` as a task held here until it is done; its failure is logged.

        After :meth:`close` nothing starts (a timer may still fire for an owner
        that is gone): ``coro`` is closed unrun and None returned.
        """
        if self._closed:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        label = f"{self._owner}: {what}"
        task.add_done_callback(lambda t: self._done(t, label))
        return task

    def _done(self, task: asyncio.Task[Any], label: str) -> None:
        self._tasks.discard(task)
        _log_failure(task, self._log, label)

    async def close(self) -> None:
        """Cancel every task and wait until all are done; no new ones start after this."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
