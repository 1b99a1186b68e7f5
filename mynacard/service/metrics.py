"""Prometheus metrics (``GET /metrics``): requests, latencies, commands by outcome, projection lag.

With ``serve --workers N`` every worker writes its counters to ``PROMETHEUS_MULTIPROC_DIR`` (set
by ``serve``) and a scrape of any worker adds them up; the projection lag is read from the store
at scrape time, the same whichever worker answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from mynacard.service.state import Service


class _ProjectionLag:
    """A collector reading each projection's lag behind the log when scraped."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "mynacard_projection_lag_events", "events the projection is behind the log", labels=["projection"]
        )
        position = GaugeMetricFamily(
            "mynacard_projection_position", "the projection's log position", labels=["projection"]
        )
        for name, p in self.service.positions().items():
            lag.add_metric([name], p["lag"])
            position.add_metric([name], p["position"])
        yield lag
        yield position
        latency = GaugeMetricFamily(
            "mynacard_revocation_latency_seconds",
            "seconds from a revocation's recording to its first OCSP/CRL answer or consumer ack",
            labels=["channel", "kind", "quantile"],
        )
        met = GaugeMetricFamily(
            "mynacard_revocation_objective_met", "1 when the channel meets the objective", labels=["channel"]
        )
        for row in self.service.latency()["channels"]:
            for quantile, key in (("0.5", "p50_s"), ("0.99", "p99_s"), ("1", "max_s")):
                if row[key] is not None:
                    latency.add_metric([row["channel"], row["kind"], quantile], row[key])
            met.add_metric([row["channel"]], 1.0 if row["objective_met"] else 0.0)
        yield latency
        yield met


class Metrics:
    def __init__(self, service: Service) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        own: Any = None if self.multiprocess else self.registry
        self.requests = Counter(
            "mynacard_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=own,
        )
        self.latency = Histogram(
            "mynacard_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=own,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.commands = Counter(
            "mynacard_commands", "commands by name and outcome", ["command", "outcome"], registry=own
        )
        self._lag = _ProjectionLag(service)

    def exposition(self) -> bytes:
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        text = generate_latest(registry)
        lag = CollectorRegistry()
        lag.register(self._lag)
        return text + generate_latest(lag)
