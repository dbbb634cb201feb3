"""A client-side worker process: ``python -m bench.worker '<json params>'``.

``python -m bench.worker --serve`` answers one request per stdin line instead
(the harness shares it between scenarios whose memory figures do not matter).

Running each scenario's client in its own process keeps its CPU time and RSS
apart from the server's and the harness's. The result is one JSON line on
stdout, after :data:`MARKER`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .procs import raise_nofile, tune_malloc

__all__ = ["MARKER", "main"]

MARKER = "BENCH-RESULT "

Scenario = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def _scenarios(name: str) -> Mapping[str, Scenario]:
    if name.startswith("sdk_") or name.startswith("cli_"):
        from .sdk_scenarios import SCENARIOS as sdk

        return sdk
    if name.startswith("fleet_"):
        from .fleet_scenarios import SCENARIOS as fleet

        return fleet
    if name.startswith("ws_"):
        from .ws_scenarios import SCENARIOS as ws

        return ws
    from .local_scenarios import SCENARIOS as local

    return local


def run_one(params: dict[str, Any]) -> dict[str, Any]:
    name = params["scenario"]
    if name.startswith("sdk_") and params.get("tune_malloc"):
        from wsep_client.tuning import tune_malloc as sdk_tune_malloc

        sdk_tune_malloc()  # what an application that opts in calls
    elif name.startswith("ws_") or params.get("tune_malloc"):
        # The raw load generator should cost as little as it can, so that the
        # server's limits show: keep large message buffers out of mmap.
        tune_malloc()
    scenario = _scenarios(name).get(name)
    if scenario is None:
        raise ValueError(f"unknown scenario {name!r}")
    timeout = float(params.get("timeout", 900))
    return asyncio.run(asyncio.wait_for(scenario(params), timeout))


def serve() -> int:
    """Answer one JSON request per stdin line, so cheap scenarios share one process."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = run_one(json.loads(line))
        except Exception as exc:
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
        print(MARKER + json.dumps(result), flush=True)
    return 0


def main(argv: list[str]) -> int:
    raise_nofile()
    if argv and argv[0] == "--serve":
        return serve()
    print(MARKER + json.dumps(run_one(json.loads(argv[0]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
