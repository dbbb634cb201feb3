"""What an unauthenticated peer may cost: failures back off, hashing work is bounded.

:class:`PeerPenalties` is sshd's ``PerSourcePenalties`` in small: after
``threshold`` failed logins from one address within ``window`` seconds, that
address is refused without any work for a delay that doubles with every
further failure (up to ``max_delay``); a success forgives it.
:class:`HashingPool` runs password hashes on a few threads of their own (never
the event loop's default executor, which other work needs), admits at most
``per_peer`` checks from one address and ``queue`` in all at a time, and
refuses the rest at once, so a flood cannot queue work for minutes.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from .base import AuthRejected

__all__ = ["HashingPool", "PeerPenalties", "shared_hashing_pool"]

T = TypeVar("T")


@dataclass
class _Record:
    failures: int = 0
    first: float = 0.0
    until: float = 0.0
    delay: float = 0.0


class PeerPenalties:
    """Failed logins per peer address, and the back-off they earn."""

    def __init__(
        self,
        *,
        threshold: int = 10,
        window: float = 60.0,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        max_peers: int = 65536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_peers = max_peers
        self._clock = clock
        self._peers: dict[str, _Record] = {}

    def check(self, peer: str) -> None:
        """Raise 429 (with the seconds to wait) while ``peer`` is penalised."""
        record = self._peers.get(peer)
        if record is None:
            return
        left = record.until - self._clock()
        if left > 0:
            raise AuthRejected(
                f"too many failed logins: retry in {math.ceil(left)} s",
                status=429,
                retry_after=math.ceil(left),
            )

    def failed(self, peer: str) -> None:
        now = self._clock()
        record = self._peers.get(peer)
        if record is None or (now - record.first > self.window and record.until <= now):
            if record is None and len(self._peers) >= self.max_peers:
                self._forget_oldest(now)
            record = self._peers[peer] = _Record(first=now)
        record.failures += 1
        if record.failures >= self.threshold:
            doubled = record.delay * 2 if record.delay else self.base_delay
            record.delay = min(self.max_delay, doubled)
            record.until = now + record.delay

    def succeeded(self, peer: str) -> None:
        self._peers.pop(peer, None)

    def _forget_oldest(self, now: float) -> None:
        expired = [p for p, r in self._peers.items() if r.until <= now]
        for peer in expired or list(self._peers)[: max(1, len(self._peers) // 8)]:
            del self._peers[peer]


class HashingPool:
    """A small, bounded executor for password checks, fair between peers."""

    def __init__(self, *, workers: int = 2, queue: int = 16, per_peer: int = 2) -> None:
        if workers < 1 or queue < workers or per_peer < 1:
            raise ValueError("HashingPool: need workers >= 1, queue >= workers, per_peer >= 1")
        self.workers = workers
        self.queue = queue
        self.per_peer = per_peer
        self._executor: ThreadPoolExecutor | None = None
        self._pending = 0
        self._by_peer: dict[str, int] = {}
        # Released from the worker thread when a check has run (see run()).
        self._lock = threading.Lock()

    async def run(self, peer: str, check: Callable[[], T]) -> T:
        """``check()`` on a hashing thread; 429 at once when ``peer`` or the pool is full."""
        with self._lock:
            if self._by_peer.get(peer, 0) >= self.per_peer or self._pending >= self.queue:
                raise AuthRejected("too many logins in progress", status=429, retry_after=1)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="wsep-hash")
            self._pending += 1
            self._by_peer[peer] = self._by_peer.get(peer, 0) + 1
            job = self._executor.submit(check)
        # Released when the check has run, not when its caller stops waiting: a
        # client that disconnects cannot leave work queued behind the count's back.
        job.add_done_callback(lambda _: self._release(peer))
        return await asyncio.wrap_future(job)

    def _release(self, peer: str) -> None:
        with self._lock:
            self._pending -= 1
            left = self._by_peer[peer] - 1
            if left:
                self._by_peer[peer] = left
            else:
                del self._by_peer[peer]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


_shared: HashingPool | None = None


def shared_hashing_pool() -> HashingPool:
    """The process's one hashing pool (authenticators rebuilt by a reload share it)."""
    global _shared
    if _shared is None:
        _shared = HashingPool()
    return _shared
