"""A metrics snapshot in the Prometheus text exposition format (0.0.4), written by prometheus-client
from a collector that yields the snapshot's families (no process-global registry involved)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from app.metrics.snapshot import MetricsSnapshot
from domain.telemetry import HistogramSnapshot

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
QUEUE_STATES = ("ready", "delayed", "in_flight", "dead")


def _histogram(family: HistogramMetricFamily, labels: list[str], snapshot: HistogramSnapshot) -> None:
    family.add_metric(labels, [(le, float(n)) for le, n in snapshot.cumulative()], snapshot.sum)


class SnapshotCollector(Collector):
    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        yield from self._http()
        jobs = GaugeMetricFamily(
            "sauti_jobs", "Jobs by kind and status (the jobs read model).", labels=["kind", "status"]
        )
        for count in s.jobs:
            jobs.add_metric([count.kind, count.status], count.count)
        yield jobs
        timing_labels = ["kind", "engine", "model"]
        families = {
            "duration_seconds": HistogramMetricFamily(
                "sauti_job_duration_seconds",
                "Completed jobs: seconds from the attempt's start to completion.",
                labels=timing_labels,
            ),
            "real_time_factor": HistogramMetricFamily(
                "sauti_job_real_time_factor",
                "Completed audio jobs: processing seconds over audio seconds.",
                labels=timing_labels,
            ),
        }
        for timing in s.job_timings:
            _histogram(families[timing.metric], [timing.kind, timing.engine, timing.model], timing.histogram)
        yield from families.values()
        yield from self._queues()
        yield GaugeMetricFamily(
            "sauti_eventstore_head_position", "Global position of the newest event.", value=s.head_position
        )
        append = HistogramMetricFamily(
            "sauti_eventstore_append_seconds",
            "Event-store write transactions that appended, start to commit (web: this process; "
            "workers: every worker process, from their heartbeats).",
            labels=["role"],
        )
        _histogram(append, ["web"], s.web.append_seconds)
        _histogram(append, ["workers"], s.workers_append_seconds)
        yield append
        yield GaugeMetricFamily("sauti_workers_alive", "Worker processes beating now.", value=len(s.workers))
        loaded = GaugeMetricFamily(
            "sauti_worker_models_loaded",
            "Models loaded per alive worker process.",
            labels=["worker", "hostname"],
        )
        for worker in s.workers:
            loaded.add_metric([worker.worker_id, worker.hostname], len(worker.models_loaded))
        yield loaded
        yield GaugeMetricFamily(
            "sauti_sse_subscribers",
            "SSE responses this web process is streaming now.",
            value=s.web.sse_streams,
        )
        yield GaugeMetricFamily(
            "sauti_event_hub_subscriptions",
            "Event subscriptions open in this web process (SSE streams and calls awaiting their job).",
            value=s.web.hub_subscriptions,
        )
        yield GaugeMetricFamily(
            "sauti_uptime_seconds", "Seconds since this web process started.", value=s.web.uptime_seconds
        )

    def _http(self) -> Iterator[Metric]:
        labels = ["method", "route", "status"]
        total = CounterMetricFamily(
            "sauti_http_requests", "HTTP requests this web process answered.", labels=labels
        )
        seconds = HistogramMetricFamily(
            "sauti_http_request_duration_seconds",
            "Seconds from the request to its response's headers.",
            labels=labels,
        )
        for series in self.snapshot.web.requests:
            values = [series.key.method, series.key.route, str(series.key.status)]
            total.add_metric(values, series.seconds.count)
            _histogram(seconds, values, series.seconds)
        yield total
        yield seconds

    def _queues(self) -> Iterator[Metric]:
        queues = self.snapshot.queues or []
        messages = GaugeMetricFamily(
            "sauti_queue_messages", "Broker messages per queue and state.", labels=["queue", "state"]
        )
        oldest = GaugeMetricFamily(
            "sauti_queue_oldest_message_age_seconds",
            "Age of the oldest message waiting in the queue (0 when none waits).",
            labels=["queue"],
        )
        for depth in queues:
            for state in QUEUE_STATES:
                value = getattr(depth, state)
                if value is not None:
                    messages.add_metric([depth.queue, state], value)
            age = depth.oldest_age(self.snapshot.generated_at)
            if age is not None:
                oldest.add_metric([depth.queue], age)
        yield messages
        yield oldest


def render(snapshot: MetricsSnapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry)
