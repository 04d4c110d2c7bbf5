"""The ``job_timings`` read model: histograms of completed jobs per kind and model.

On a job's ``<category>.completed`` event two observations are counted: its duration (from the
attempt's ``started`` event to the completion, the ``jobs`` row's ``started_at``) and, for a
result that records its audio's length and the engine's processing time, its real-time factor
(``domain.telemetry.real_time_factor``). Each observation adds one to its bucket's row, so the
table stays a few rows per model and reading it never depends on how many jobs ran.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Table, insert, select, update

from app.projections.tables import job_timings, jobs
from domain.jobs import is_completed_type
from domain.telemetry import JOB_SECONDS, REAL_TIME_FACTOR, HistogramSnapshot, bucket_for, real_time_factor
from eventstore.base import RecordedEvent

Metric = Literal["duration_seconds", "real_time_factor"]
METRIC_BOUNDS: dict[Metric, tuple[float, ...]] = {
    "duration_seconds": JOB_SECONDS,
    "real_time_factor": REAL_TIME_FACTOR,
}


def job_model(params: dict[str, Any]) -> str:
    """The model a job's params name ('' for a kind without one)."""
    model = params.get("model")
    return model if isinstance(model, str) else ""


class JobTimingsProjection:
    name = "job_timings"

    @property
    def tables(self) -> list[Table]:
        return [job_timings]

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if not is_completed_type(event.type):
            return
        row = connection.execute(
            select(jobs.c.started_at, jobs.c.params).where(jobs.c.stream_id == event.stream_id)
        ).first()
        if row is None or row.started_at is None:
            return  # not a job stream, or completed without an attempt (nothing to time)
        model = job_model(json.loads(row.params))
        _observe(connection, event.category, model, "duration_seconds", event.recorded_at - row.started_at)
        result = event.data.get("result")
        if isinstance(result, dict):
            rtf = real_time_factor(result)
            if rtf is not None:
                _observe(connection, event.category, model, "real_time_factor", rtf)


def _observe(connection: Connection, category: str, model: str, metric: Metric, value: float) -> None:
    value = max(0.0, value)
    key = {
        "category": category,
        "model": model,
        "metric": metric,
        "le": bucket_for(METRIC_BOUNDS[metric], value),
    }
    where = [job_timings.c[name] == key[name] for name in key]
    updated = connection.execute(
        update(job_timings)
        .where(*where)
        .values(observations=job_timings.c.observations + 1, total=job_timings.c.total + value)
    )
    if updated.rowcount == 0:
        connection.execute(insert(job_timings).values(**key, observations=1, total=value))


@dataclass(frozen=True)
class TimingSeries:
    category: str
    model: str
    metric: Metric
    histogram: HistogramSnapshot


def timing_series(connection: Connection) -> list[TimingSeries]:
    """Every histogram of the table, by kind (category), model and metric."""
    counts: dict[tuple[str, str, Metric], dict[str, int]] = defaultdict(dict)
    totals: dict[tuple[str, str, Metric], float] = defaultdict(float)
    for row in connection.execute(select(job_timings)):
        if row.metric not in METRIC_BOUNDS:
            continue
        key = (row.category, row.model, row.metric)
        counts[key][row.le] = row.observations
        totals[key] += row.total
    return [
        TimingSeries(
            category,
            model,
            metric,
            HistogramSnapshot.from_labelled(METRIC_BOUNDS[metric], by_le, totals[key]),
        )
        for key, by_le in sorted(counts.items())
        for category, model, metric in [key]
    ]
