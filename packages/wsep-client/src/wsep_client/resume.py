"""How a resumable job's process reconnects after its connection drops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["GapPolicy", "ResumeOptions"]

#: ``"raise"``: evicted bytes end the output with :class:`OutputGap`;
#: ``"mark"``: they are recorded in ``RemoteProcess.gaps`` and output goes on.
GapPolicy = Literal["raise", "mark"]


@dataclass(frozen=True)
class ResumeOptions:
    """Bounded retries with exponential backoff, and what a ``gap`` does.

    ``retries`` 0 turns automatic resumption off (the drop is reported as
    :class:`ConnectionLost`; the job keeps running and ``attach`` can resume it).
    """

    retries: int = 5
    backoff: float = 0.2
    max_backoff: float = 5.0
    on_gap: GapPolicy = "raise"

    def delays(self) -> list[float]:
        """Seconds to wait before each attempt (none before the first)."""
        out: list[float] = []
        delay = self.backoff
        for attempt in range(self.retries):
            out.append(0.0 if attempt == 0 else delay)
            if attempt:
                delay = min(delay * 2, self.max_backoff)
        return out
