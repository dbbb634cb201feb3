"""Process-wide counts of what reattachable sessions lost, for the metrics.

Plain integers bumped where it happens (cheap enough for the output path);
``wsep_server.metrics`` reads them when scraped.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STATS", "SessionStats"]


@dataclass
class SessionStats:
    evictions: int = 0  #: times a ring dropped its oldest bytes
    evicted_bytes: int = 0
    gaps: int = 0  #: reattaches that asked for bytes no longer held
    gap_bytes: int = 0


STATS = SessionStats()
