"""wsep benchmark suite: ``python -m bench`` (``nox -s bench``).

The harness starts a real wsep server as a separate process on loopback, drives
it from separate worker processes (raw WebSocket load generator and the client
SDK), measures the same work without wsep (pipes, loopback TCP, local PTY) as
baselines, and prints every figure with its ratio to its baseline and its
target. Results also go to ``bench-results/*.json`` (see :mod:`bench.results`).
"""

from __future__ import annotations

__all__: list[str] = []
