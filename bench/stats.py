"""Order statistics for samples: medians, percentiles and spread."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Summary", "percentile", "summarise"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100), linear interpolation between order statistics."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


@dataclass(frozen=True)
class Summary:
    """Median and spread of per-run values; ``spread_pct`` is (max − min) / median."""

    median: float
    min: float
    max: float
    p25: float
    p75: float
    spread_pct: float | None
    runs: int


def summarise(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("no samples")
    med = percentile(values, 50)
    lo, hi = float(min(values)), float(max(values))
    spread = None if len(values) < 2 or med == 0 else (hi - lo) / abs(med) * 100.0
    return Summary(
        median=med,
        min=lo,
        max=hi,
        p25=percentile(values, 25),
        p75=percentile(values, 75),
        spread_pct=spread,
        runs=len(values),
    )
