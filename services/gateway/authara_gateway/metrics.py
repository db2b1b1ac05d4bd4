"""The gateway's Prometheus metrics, on a registry of their own (GATEWAY_METRICS_BIND)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram

from authara_runtime.metrics import LATENCY_BUCKETS, RevocationCollector, RevocationSlot
from authara_runtime.observe import HttpMetrics

PREFIX: Final = "authara_gateway"
REVOCATION_CHECKS: Final = f"{PREFIX}_revocation_checks"


@dataclass(frozen=True, slots=True)
class GatewayMetrics:
    """Every metric the gateway records, registered on `registry`."""

    registry: CollectorRegistry
    http: HttpMetrics
    upstream_latency: Histogram
    upstream_errors: Counter
    refreshes: Counter
    revocation: RevocationSlot = field(default_factory=RevocationSlot)

    @classmethod
    def create(cls) -> GatewayMetrics:
        """Build the registry and the metrics on it."""
        registry = CollectorRegistry(auto_describe=True)
        revocation = RevocationSlot()
        registry.register(RevocationCollector(REVOCATION_CHECKS, revocation))
        return cls(
            registry=registry,
            http=HttpMetrics.register(registry, PREFIX),
            upstream_latency=Histogram(
                f"{PREFIX}_upstream_duration_seconds",
                "Time from sending a request upstream to its response headers",
                ["upstream"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
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
