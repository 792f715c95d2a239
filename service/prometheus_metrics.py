"""Prometheus metrics of one app instance: request counts and latency, per-stage latency, batches."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

# Seconds; the encoder dominates (10-100 ms on CPU), explain and big uploads reach seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServiceMetrics:
    """Collectors in a registry of their own, so several apps (tests) can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lodisc_http_requests",
            "HTTP requests by route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "lodisc_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "lodisc_stage_seconds",
            "Latency per pipeline stage (decode, embed, search, explain)",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "lodisc_encoder_batch_size",
            "Images per encoder call",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "lodisc_encoder_batch_seconds",
            "Duration of one encoder call",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejected = Counter(
            "lodisc_rejected_requests",
            "Requests refused before any work (queue full)",
            ["reason"],
            registry=self.registry,
        )

    def observe_stages(self, timings_ms: Mapping[str, float]) -> None:
        """Record the stages a request went through (those that took no time are skipped)."""
        for stage, milliseconds in timings_ms.items():
            if milliseconds > 0.0:
                self.stage_seconds.labels(stage).observe(milliseconds / 1000.0)

    def observe_batch(self, size: int, seconds: float) -> None:
        """Record one encoder call (the batcher's ``on_batch`` hook)."""
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
