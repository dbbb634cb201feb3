"""``python -m bench [--quick | --smoke] [--only GROUPS] ...``: run, print, save."""

from __future__ import annotations

import datetime
import pathlib
import sys
import time

from .config import parse_args
from .harness import ROOT, Harness
from .machine import describe_machine
from .results import render_table, to_json, write_json

__all__ = ["main"]


_T0 = time.perf_counter()


def _log(text: str) -> None:
    print(f"{time.perf_counter() - _T0:7.1f}s {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    machine = describe_machine()
    started = time.perf_counter()
    _log(
        f"wsep bench ({cfg.preset}) on {machine['cpu_model']}, {machine['cpus']} CPUs, "
        f"Python {machine['python']}"
    )
    harness = Harness(cfg, _log)
    figures = harness.run()
    machine["duration_s"] = round(time.perf_counter() - started, 1)
    machine["load_average_at_end"] = list(__import__("os").getloadavg())
    print(render_table(figures))
    for note in cfg.notes:
        print(f"note: {note}")
    errors = [f for f in figures if f.error and not f.samples]
    missed = [f for f in figures if f.met is False]
    met = [f for f in figures if f.met is True]
    print(
        f"\n{len(figures)} figures, {len(met)} targets met, {len(missed)} missed"
        + (f", {len(errors)} not measured" if errors else "")
        + f"; {machine['duration_s']} s"
    )
    if cfg.json:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = pathlib.Path(cfg.out)
        if not out.is_absolute():
            out = ROOT / out
        path = write_json(to_json(machine, cfg.to_dict(), figures), out, stamp)
        print(f"JSON: {path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
