"""Prometheus metrics (``--metrics-listen``), gathered without touching the data path.

:class:`Metrics` holds plain integers that a session observer and one
middleware bump once per session or request; bytes are the counts sessions
keep anyway. ``prometheus-client`` is asked only when scraped, through a
custom collector, so nothing per message calls into it. Every hook here is
an observer: its failure is logged and the request or session goes on.
The endpoint has no authentication, so it listens only on loopback.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from wsep_protocol import TOKEN_SUBPROTOCOL_PREFIX, offered_subprotocols

from .hooks import ConnectionRecord
from .sessions.stats import STATS

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

__all__ = ["SPAWN_BUCKETS", "Metrics", "metrics_app", "require_prometheus"]

_log = logging.getLogger("wsep_server.metrics")

#: Seconds from ``start`` to a running process (policy check and spawn included).
SPAWN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def require_prometheus() -> None:
    """Fail with a clear message when ``prometheus-client`` is missing."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ValueError(
            "--metrics-listen needs the prometheus-client package: pip install prometheus-client"
        ) from None


def _category(text: str) -> str:
    """``policy: not allowed ...`` -> ``policy``: a label with few values."""
    return text.split(":", 1)[0].strip()[:40] or "unknown"


def _auth_method(request: web.Request) -> str:
    """Which kind of credential a refused request presented."""
    scheme = request.headers.get("Authorization", "").strip().split(" ", 1)[0].lower()
    if scheme in ("bearer", "basic"):
        return scheme
    if scheme:
        return "other"
    if "token" in request.query or "access_token" in request.query:
        return "query"
    offered = offered_subprotocols(request.headers.getall("Sec-WebSocket-Protocol", ()))
    if any(entry.startswith(TOKEN_SUBPROTOCOL_PREFIX) for entry in offered):
        return "subprotocol"
    return "none"


class Metrics:
    """The server's counts; a :class:`~wsep_server.hooks.ConnectionObserver` too."""

    def __init__(self, *, reload_counts: Callable[[], tuple[int, int]] | None = None) -> None:
        self.connections_active = 0
        self.connections = 0
        self.reattaches = 0
        self.processes_started = 0
        self.ended: Counter[str] = Counter()
        self.close_codes: Counter[int] = Counter()
        self.policy_refusals = 0
        self.auth_failures: Counter[tuple[str, str]] = Counter()
        self.bytes_in = 0  # of ended connections; live ones are added when scraped
        self.bytes_out = 0
        self.spawn_buckets = [0] * (len(SPAWN_BUCKETS) + 1)
        self.spawn_sum = 0.0
        self._live: dict[str, ConnectionRecord] = {}
        self.reload_counts = reload_counts

    # --- observer -------------------------------------------------------------

    def on_start(self, record: ConnectionRecord) -> None:
        self.processes_started += 1
        self._live[record.id] = record
        if record.started:
            latency = max(0.0, time.time() - record.started)
            self.spawn_buckets[bisect.bisect_left(SPAWN_BUCKETS, latency)] += 1
            self.spawn_sum += latency

    def on_end(self, record: ConnectionRecord) -> None:
        self._live.pop(record.id, None)
        self.ended[_category(record.end_reason)] += 1
        if record.reattach:
            self.reattaches += 1
        if record.end_reason.startswith("policy"):
            self.policy_refusals += 1
        if record.close_code is not None:
            self.close_codes[int(record.close_code)] += 1  # not the IntEnum: 3.10 formats its name
        self.bytes_in += record.bytes_in
        self.bytes_out += record.bytes_out

    # --- middleware -------------------------------------------------------------

    def middleware(self) -> Middleware:
        """Counts connections and authentication refusals; install it first."""

        @web.middleware
        async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
            upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
            if upgrade:
                self.connections += 1
                self.connections_active += 1
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                self._refused(request, exc)
                raise
            finally:
                if upgrade:
                    self.connections_active -= 1
            self._refused(request, response)
            return response

        return count

    def _refused(self, request: web.Request, response: web.StreamResponse) -> None:
        try:
            reason = response.headers.get("X-Wsep-Error")
            if response.status in (401, 403) and reason is not None:
                self.auth_failures[(_auth_method(request), _category(reason))] += 1
        except Exception:
            _log.exception("metrics: counting a refusal failed")

    # --- collecting -------------------------------------------------------------

    def collector(self) -> Collector:
        """A prometheus-client collector that reads these counts when scraped."""
        from prometheus_client.core import HistogramMetricFamily

        metrics = self

        class _Collector:
            def describe(self) -> list[Any]:
                return []

            def collect(self) -> Iterator[Any]:
                live = list(metrics._live.values())
                yield _gauge(
                    "wsep_connections_active", "WebSocket connections open now",
                    metrics.connections_active,
                )  # fmt: skip
                yield _counter(
                    "wsep_connections", "WebSocket connections accepted for upgrade",
                    metrics.connections,
                )  # fmt: skip
                yield _gauge(
                    "wsep_processes_active", "processes running for a connection now", len(live)
                )
                yield _counter(
                    "wsep_processes_started", "processes started (or attached to) for a "
                    "connection", metrics.processes_started,
                )  # fmt: skip
                yield _by_label(
                    "wsep_connections_ended", "connections that ran a process, ended, by reason",
                    ["reason"], metrics.ended,
                )  # fmt: skip
                yield from _deprecated_names(metrics, len(live))
                yield _counter(
                    "wsep_bytes_in", "stdin bytes received from clients",
                    metrics.bytes_in + sum(r.bytes_in for r in live),
                )  # fmt: skip
                yield _counter(
                    "wsep_bytes_out", "stdout and stderr bytes sent to clients",
                    metrics.bytes_out + sum(r.bytes_out for r in live),
                )  # fmt: skip
                cumulative, buckets = 0, []
                bounds = [*map(str, SPAWN_BUCKETS), "+Inf"]
                for bound, n in zip(bounds, metrics.spawn_buckets, strict=True):
                    cumulative += n
                    buckets.append((bound, cumulative))
                yield HistogramMetricFamily(
                    "wsep_spawn_seconds", "seconds from start to a running process",
                    buckets=buckets, sum_value=metrics.spawn_sum,
                )  # fmt: skip
                yield _by_label(
                    "wsep_auth_failures", "refused requests, by credential kind and reason",
                    ["method", "reason"], metrics.auth_failures,
                )  # fmt: skip
                yield _counter(
                    "wsep_policy_refusals", "starts the policy refused", metrics.policy_refusals
                )
                yield _by_label(
                    "wsep_close_codes", "WebSocket close codes connections ended with",
                    ["code"], metrics.close_codes,
                )  # fmt: skip
                yield _counter(
                    "wsep_reattaches", "connections that reattached to a session",
                    metrics.reattaches,
                )  # fmt: skip
                yield _counter(
                    "wsep_ring_evictions", "times a detached session's output ring dropped "
                    "its oldest bytes", STATS.evictions,
                )  # fmt: skip
                yield _counter(
                    "wsep_ring_evicted_bytes", "output bytes dropped from rings",
                    STATS.evicted_bytes,
                )  # fmt: skip
                yield _counter(
                    "wsep_output_gaps", "reattaches that missed output no longer held", STATS.gaps
                )
                yield _counter(
                    "wsep_output_gap_bytes", "output bytes reattaching clients missed",
                    STATS.gap_bytes,
                )  # fmt: skip
                if metrics.reload_counts is not None:
                    done, refused = metrics.reload_counts()
                    yield _by_label(
                        "wsep_reloads", "SIGHUP reloads, by result", ["result"],
                        {"ok": done, "refused": refused},
                    )  # fmt: skip

        return _Collector()


def _counter(name: str, text: str, value: float) -> Any:
    from prometheus_client.core import CounterMetricFamily

    return CounterMetricFamily(name, text, value=value)


def _gauge(name: str, text: str, value: float) -> Any:
    from prometheus_client.core import GaugeMetricFamily

    return GaugeMetricFamily(name, text, value=value)


def _by_label(name: str, text: str, labels: list[str], counts: Mapping[Any, int]) -> Any:
    """A counter with one sample per key of ``counts`` (a tuple key: one value per label)."""
    from prometheus_client.core import CounterMetricFamily

    family = CounterMetricFamily(name, text, labels=labels)
    for key, n in sorted(counts.items()):
        family.add_metric([str(k) for k in (key if isinstance(key, tuple) else (key,))], n)
    return family


def _deprecated_names(metrics: Metrics, active: int) -> Iterator[Any]:
    """The old names of three counts ("session" meant a connection's process)."""
    yield _gauge("wsep_sessions_active", "deprecated: wsep_processes_active", active)
    yield _counter(
        "wsep_sessions_started", "deprecated: wsep_processes_started", metrics.processes_started
    )
    yield _by_label(
        "wsep_sessions_ended", "deprecated: wsep_connections_ended", ["reason"], metrics.ended
    )


def metrics_app(metrics: Metrics, path: str = "/metrics") -> web.Application:
    """An application serving ``metrics`` in the Prometheus text format on ``path``."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics.collector())

    async def scrape(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get(path, scrape)
    return app
