"""One metrics snapshot: this web process's own counts plus what the database knows of every job
and every worker process, on any host.

Cheap by construction: jobs by kind and status are one grouped count on an index of ``jobs``,
job timings a few rows per model of ``job_timings`` (both read models of the events), the head
position the primary key's maximum, queue depths the broker's own counts, and workers the rows of
``worker_processes`` whose heartbeats carry each worker's telemetry. Nothing reads the event log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from app.bootstrap import Container
from app.metrics.requests import RequestMetrics, RequestSeries
from app.projections.job_timings import Metric, timing_series
from app.projections.tables import jobs
from domain.jobs import JOB_STATUSES
from domain.kinds import KINDS
from domain.telemetry import APPEND_SECONDS, HistogramSnapshot, merge_all
from eventstore.db import read_transaction
from workers.queue_metrics import QueueDepth, queue_depths


@dataclass(frozen=True)
class JobCount:
    kind: str
    status: str
    count: int


@dataclass(frozen=True)
class JobTiming:
    kind: str
    engine: str
    model: str
    metric: Metric
    histogram: HistogramSnapshot


@dataclass(frozen=True)
class WorkerSnapshot:
    worker_id: str
    hostname: str
    pid: int
    models_loaded: tuple[str, ...]


@dataclass(frozen=True)
class ProcessGauges:
    """What only the web process serving the scrape can tell."""

    uptime_seconds: float
    requests: list[RequestSeries]
    append_seconds: HistogramSnapshot
    sse_streams: int
    hub_subscriptions: int


@dataclass(frozen=True)
class MetricsSnapshot:
    generated_at: float
    web: ProcessGauges
    jobs: list[JobCount]
    job_timings: list[JobTiming]
    broker: str
    queues: list[QueueDepth] | None
    """None where the broker cannot be asked."""
    head_position: int
    workers_append_seconds: HistogramSnapshot
    """Every worker's appends, stopped ones included (their counts stay until their rows are pruned)."""
    workers: list[WorkerSnapshot]
    """The workers alive now."""

    def to_json(self) -> dict[str, Any]:
        now = self.generated_at
        return {
            "object": "metrics",
            "generated_at": now,
            "uptime_secs": round(self.web.uptime_seconds, 3),
            "http": {
                "requests": [
                    {
                        "method": s.key.method,
                        "route": s.key.route,
                        "status": s.key.status,
                        "count": s.seconds.count,
                        "duration_seconds": s.seconds.to_json(),
                    }
                    for s in self.web.requests
                ],
            },
            "jobs": {
                "by_kind_status": [{"kind": j.kind, "status": j.status, "count": j.count} for j in self.jobs],
                **{
                    metric: [
                        {"kind": t.kind, "engine": t.engine, "model": t.model, **t.histogram.to_json()}
                        for t in self.job_timings
                        if t.metric == metric
                    ]
                    for metric in ("duration_seconds", "real_time_factor")
                },
            },
            "queues": {
                "broker": self.broker,
                "queues": None
                if self.queues is None
                else [
                    {
                        "queue": q.queue,
                        "ready": q.ready,
                        "delayed": q.delayed,
                        "in_flight": q.in_flight,
                        "dead": q.dead,
                        "oldest_message_age_secs": _rounded(q.oldest_age(now)),
                    }
                    for q in self.queues
                ],
            },
            "event_store": {
                "head_position": self.head_position,
                "append_seconds": {
                    "web": self.web.append_seconds.to_json(),
                    "workers": self.workers_append_seconds.to_json(),
                },
            },
            "workers": {
                "alive": len(self.workers),
                "processes": [
                    {
                        "worker_id": w.worker_id,
                        "hostname": w.hostname,
                        "pid": w.pid,
                        "models_loaded": list(w.models_loaded),
                    }
                    for w in self.workers
                ],
            },
            "sse": {"subscribers": self.web.sse_streams, "hub_subscriptions": self.web.hub_subscriptions},
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def take_snapshot(container: Container, web: ProcessGauges) -> MetricsSnapshot:
    """Blocking (database and broker reads): run it in a thread."""
    now = time.time()
    with read_transaction(container.engine) as connection:
        counts = connection.execute(
            select(jobs.c.category, jobs.c.status, func.count()).group_by(jobs.c.category, jobs.c.status)
        ).all()
        timings = timing_series(connection)
    workers = container.workers.all()
    alive_within = container.settings.worker_alive_seconds
    return MetricsSnapshot(
        generated_at=now,
        web=web,
        jobs=job_counts([(str(c), str(s), int(n)) for c, s, n in counts]),
        job_timings=[
            JobTiming(_kind_name(t.category), _engine(container, t.model), t.model, t.metric, t.histogram)
            for t in timings
        ],
        broker=container.broker_kind,
        queues=queue_depths(container.broker, now),
        head_position=container.store.last_position(),
        workers_append_seconds=merge_all(
            APPEND_SECONDS, (w.metrics.append_seconds for w in workers if w.metrics is not None)
        ),
        workers=[
            WorkerSnapshot(
                w.worker_id, w.hostname, w.pid, w.metrics.models_loaded if w.metrics is not None else ()
            )
            for w in workers
            if w.is_alive(now, alive_within)
        ],
    )


def job_counts(rows: list[tuple[str, str, int]]) -> list[JobCount]:
    """Jobs per kind and status from ``(category, status, count)`` rows: every declared kind with
    every status of the jobs read model (0 where none), plus whatever else the table holds."""
    found = {(_kind_name(category), status): count for category, status, count in rows}
    for kind in KINDS:
        for status in JOB_STATUSES.values():
            found.setdefault((kind.name, status), 0)
    return [JobCount(kind, status, count) for (kind, status), count in sorted(found.items())]


def _kind_name(category: str) -> str:
    kind = KINDS.of_stream(f"{category}-x")
    return kind.name if kind is not None else category


def _engine(container: Container, model: str) -> str:
    variant = container.catalog.find(model) if model else None
    return variant.engine if variant is not None else ""


def process_gauges(
    started_at: float, requests: RequestMetrics, append_seconds: HistogramSnapshot, sse: int, hub: int
) -> ProcessGauges:
    return ProcessGauges(time.time() - started_at, requests.series(), append_seconds, sse, hub)
