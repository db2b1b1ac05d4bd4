"""The gateway's Prometheus metrics, on a registry of their own (GATEWAY_METRICS_BIND)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from authara_runtime.metrics import LATENCY_BUCKETS, RevocationCollector, RevocationSlot
from authara_runtime.observe import HttpMetrics, LabeledHistogram

PREFIX: Final = "authara_gateway"
REVOCATION_CHECKS: Final = f"{PREFIX}_revocation_checks"


class _UpstreamLatency(Collector):
    """The upstream latency histogram, kept as plain counts and read at scrape time."""

    def __init__(self) -> None:
        self.histogram = LabeledHistogram(LATENCY_BUCKETS)

    def collect(self) -> Iterable[Metric]:
        yield self.histogram.family(
            f"{PREFIX}_upstream_duration_seconds",
            "Time from sending a request upstream to its response headers",
            ["upstream"],
        )


@dataclass(frozen=True, slots=True)
class GatewayMetrics:
    """Every metric the gateway records, registered on `registry`."""

    registry: CollectorRegistry
    http: HttpMetrics
    upstream_latency: LabeledHistogram
    """Observed with `(upstream,)` label values: `core` or `app`."""
    upstream_errors: Counter
    refreshes: Counter
    revocation: RevocationSlot = field(default_factory=RevocationSlot)

    @classmethod
    def create(cls) -> GatewayMetrics:
        """Build the registry and the metrics on it."""
        registry = CollectorRegistry(auto_describe=True)
        revocation = RevocationSlot()
        registry.register(RevocationCollector(REVOCATION_CHECKS, revocation))
        upstream_latency = _UpstreamLatency()
        registry.register(upstream_latency)
        return cls(
            registry=registry,
            http=HttpMetrics.register(registry, PREFIX),
            upstream_latency=upstream_latency.histogram,
            upstream_errors=Counter(
                f"{PREFIX}_upstream_errors",
                "Upstream requests that failed (unreachable, timeout, error)",
                ["upstream", "kind"],
                registry=registry,
            ),
            refreshes=Counter(
                f"{PREFIX}_refreshes",
                "Session refreshes the gateway did for an expired access token, by outcome",
                ["outcome"],
                registry=registry,
            ),
            revocation=revocation,
        )
