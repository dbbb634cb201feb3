"""Markdown for the README's "Performance" section from a results JSON file.

``python -m bench.report [bench-results/latest.json]`` prints the machine line
and one table row per figure (median, spread, baseline, ratio, target, met).
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

from .results import _num

__all__ = ["markdown"]


def _row(r: dict[str, Any]) -> str:
    spread = "—" if r["spread_pct"] is None else f"±{r['spread_pct'] / 2:.0f}%"
    base = r["baseline"]
    base_txt = "—" if base is None else f"{_num(base['median'])} {base['unit']} ({base['name']})"
    ratio = "—" if r["ratio"] is None else f"{r['ratio']:.3g}×"
    target = "—" if r["target"] is None else f"{r['target']['op']} {_num(r['target']['value'])}"
    met = {None: "", True: "yes", False: "**no**"}[r["met"]]
    median = "not measured" if r["median"] is None else _num(r["median"])
    vs = r.get("versus")
    vs_txt = "—"
    if vs is not None and vs["ratio"] is not None:
        vs_txt = f"{vs['ratio']:.3g}× ({_num(vs['median'])} {vs['unit']} `{vs['name']}`)"
    return (
        f"| `{r['name']}` | {median} {r['unit']} | {spread} (n={r['runs']}) | {base_txt} "
        f"| {ratio} | {vs_txt} | {target} | {met} |"
    )


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    load = m.get("load_average_at_start") or [0.0]
    lines = [
        f"Measured {m['timestamp'][:16].replace('T', ' ')} UTC on {m['cpu_model']}, "
        f"{m['cpus']} CPUs, {m['mem_total_mib'] / 1024:.0f} GiB RAM, Linux {m['kernel']}, "
        f"{m['python_impl']} {m['python']}, aiohttp {m['aiohttp']}, commit "
        f"{m.get('git_commit') or '?'}; loopback; load average {load[0]:.2f} at start; "
        f"`{doc['config']['preset']}` preset, {m.get('duration_s', '?')} s.",
        "",
    ]
    header = [
        "| figure | median | spread | baseline (median) | ratio | vs ssh (ssh median) "
        "| target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    targeted = [r for r in doc["results"] if r["target"] is not None]
    lines += ["Figures with a target:", "", *header, *(_row(r) for r in targeted), ""]
    versus = [r for r in doc["results"] if r.get("versus")]
    if versus:
        lines += ["wsep against OpenSSH, same run:", "", *header, *(_row(r) for r in versus), ""]
    lines += [
        "<details><summary>Every figure and baseline</summary>",
        "",
        *header,
        *(_row(r) for r in doc["results"]),
        "",
        "</details>",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    path = pathlib.Path(argv[0] if argv else "bench-results/latest.json")
    print(markdown(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
