"""Figures, their baselines and targets; the table on stdout and the JSON file.

The JSON shape is stable (``SCHEMA_VERSION``)::

    {"schema": 1, "machine": {...}, "config": {...},
     "results": [{"name", "group", "description", "unit", "better", "median", "min",
                  "max", "p25", "p75", "spread_pct", "runs", "samples", "baseline",
                  "ratio", "versus", "target", "met", "context"}]}

``baseline`` is ``{"name", "median", "unit"}`` or null (for baselines themselves);
``ratio`` is median / baseline median; ``versus`` is the competing figure
measured in the same run (OpenSSH's, for wsep's) as ``{"name", "median",
"unit", "ratio"}`` (ratio = this median / its median) or null; ``target``
is ``{"op", "value"}`` or null;
``met`` is true/false, or null where there is no target or no figure. A figure
that could not be measured keeps its entry with ``median`` null and ``error`` set.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .stats import summarise

__all__ = [
    "SCHEMA_VERSION",
    "Figure",
    "Target",
    "render_table",
    "to_json",
    "write_json",
]

SCHEMA_VERSION = 1

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Target:
    """A goal from the issue, e.g. ``Target(">=", 900)`` MiB/s."""

    op: Literal[">=", "<="]
    value: float

    def met_by(self, value: float) -> bool:
        return value >= self.value if self.op == ">=" else value <= self.value


@dataclass
class Figure:
    """One measured figure: per-run values, summarised to a median and its spread."""

    name: str
    group: str
    description: str
    unit: str
    better: Better
    samples: list[float] = field(default_factory=list)
    baseline: Figure | None = None
    target: Target | None = None
    context: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    versus: Figure | None = None

    @property
    def versus_ratio(self) -> float | None:
        """This median / the competing figure's (above 1: higher, whichever is better)."""
        if self.versus is None or self.median is None or self.versus.median in (None, 0):
            return None
        other = self.versus.median
        assert other is not None
        return self.median / other

    @property
    def median(self) -> float | None:
        return summarise(self.samples).median if self.samples else None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.median is None or self.baseline.median in (None, 0):
            return None
        base = self.baseline.median
        assert base is not None
        return self.median / base

    @property
    def met(self) -> bool | None:
        if self.target is None or self.median is None:
            return None
        return self.target.met_by(self.median)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "group": self.group,
            "description": self.description,
            "unit": self.unit,
            "better": self.better,
            "median": None,
            "min": None,
            "max": None,
            "p25": None,
            "p75": None,
            "spread_pct": None,
            "runs": len(self.samples),
            "samples": [_clean(s) for s in self.samples],
        }
        if self.samples:
            s = summarise(self.samples)
            out.update(
                median=_clean(s.median),
                min=_clean(s.min),
                max=_clean(s.max),
                p25=_clean(s.p25),
                p75=_clean(s.p75),
                spread_pct=_clean(s.spread_pct),
            )
        out["baseline"] = (
            None
            if self.baseline is None
            else {
                "name": self.baseline.name,
                "median": _clean(self.baseline.median),
                "unit": self.baseline.unit,
            }
        )
        out["ratio"] = _clean(self.ratio)
        out["versus"] = (
            None
            if self.versus is None
            else {
                "name": self.versus.name,
                "median": _clean(self.versus.median),
                "unit": self.versus.unit,
                "ratio": _clean(self.versus_ratio),
            }
        )
        out["target"] = (
            None if self.target is None else {"op": self.target.op, "value": self.target.value}
        )
        out["met"] = self.met
        out["context"] = {k: _clean_any(v) for k, v in self.context.items()}
        out["error"] = self.error
        return out


def _clean(value: float | None) -> float | None:
    """JSON has no NaN/inf: those become null; floats are rounded for readability."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)


def _clean_any(value: Any) -> Any:
    if isinstance(value, float):
        return _clean(value)
    if isinstance(value, dict):
        return {k: _clean_any(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_any(v) for v in value]
    return value


def to_json(
    machine: dict[str, Any], config: dict[str, Any], figures: Sequence[Figure]
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "machine": machine,
        "config": config,
        "results": [f.to_dict() for f in figures],
    }


def write_json(document: dict[str, Any], directory: pathlib.Path, stamp: str) -> pathlib.Path:
    """``<dir>/bench-<stamp>.json`` plus a copy as ``<dir>/latest.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    path = directory / f"bench-{stamp}.json"
    path.write_text(text)
    (directory / "latest.json").write_text(text)
    return path


def _num(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    mag = abs(value)
    if mag >= 100:
        return f"{value:,.0f}"
    if mag >= 10:
        return f"{value:.1f}"
    if mag >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _row(fig: Figure) -> list[str]:
    s = summarise(fig.samples) if fig.samples else None
    spread = "—" if s is None or s.spread_pct is None else f"±{s.spread_pct / 2:.1f}%"
    if fig.error and s is None:
        return [fig.name, fig.unit, "ERROR", "", "", "", "", "", fig.error[:60]]
    base = "—"
    if fig.baseline is not None:
        base = f"{_num(fig.baseline.median)} ({fig.baseline.name})"
    ratio = "—" if fig.ratio is None else f"{fig.ratio:.3g}×"
    target = "—" if fig.target is None else f"{fig.target.op} {_num(fig.target.value)}"
    met = {None: "", True: "yes", False: "NO"}[fig.met]
    versus = "—" if fig.versus_ratio is None else f"{fig.versus_ratio:.3g}×"
    return [
        fig.name,
        fig.unit,
        _num(s.median if s else None),
        f"{spread} n={s.runs if s else 0}",
        base,
        ratio,
        versus,
        target,
        met,
    ]


def render_table(figures: Sequence[Figure]) -> str:
    """A fixed-width table: figure, unit, median, spread, baseline, ratio, vs ssh, target, met.

    ``vs ssh`` is the figure's median over the matching OpenSSH figure's (see ``versus``).
    """
    header = [
        "figure",
        "unit",
        "median",
        "spread",
        "baseline (median)",
        "ratio",
        "vs ssh",
        "target",
        "met",
    ]
    rows = [header] + [_row(f) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for i, row in enumerate(rows):
        cells = [
            cell.rjust(widths[j]) if j in (2, 5, 6) else cell.ljust(widths[j])
            for j, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
