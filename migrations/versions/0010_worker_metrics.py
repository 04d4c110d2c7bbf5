"""Metrics (issue 12): the worker heartbeat carries the worker's telemetry
(``worker_processes.metrics``), jobs are counted by kind and status on an index of their own
(``ix_jobs_category_status``), and completed jobs' durations and real-time factors are histograms
in ``job_timings``.

``job_timings`` is filled from the stored events as the projection (app/projections/job_timings.py
as of this revision) fills it, so the table equals a rebuild: one pass over the lifecycle events,
in position order.

Self-contained: what it needs of the projection's rules is copied below, as they were when it
was written; it imports nothing of the application.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import bisect
import json
import math
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# --- frozen: the rules this revision's projection follows -------------------------------------

_BOUNDS = {
    "duration_seconds": (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0),
    "real_time_factor": (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
}
_AUDIO_SECONDS = ("duration", "audio_duration_secs")
_PROCESSING_MS = ("processing_time_ms", "generation_time_ms")


def _bucket(metric: str, value: float) -> str:
    bounds = _BOUNDS[metric]
    index = bisect.bisect_left(bounds, value)
    return repr(float(bounds[index])) if index < len(bounds) else "+Inf"


def _number(result: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = result.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def _rtf(result: Any) -> float | None:
    if not isinstance(result, dict):
        return None
    audio, processing = _number(result, _AUDIO_SECONDS), _number(result, _PROCESSING_MS)
    if audio is None or processing is None or audio <= 0:
        return None
    return processing / 1000 / audio


def _timings(connection: sa.Connection) -> dict[tuple[str, str, str, str], list[float]]:
    """``(category, model, metric, le) -> [observations, total]`` from the stored events."""
    events = sa.table(
        "events",
        sa.column("position"),
        sa.column("stream_id"),
        sa.column("category"),
        sa.column("type"),
        sa.column("data"),
        sa.column("recorded_at"),
    )
    verbs = ("requested", "started", "completed")
    query = (
        sa.select(events.c.stream_id, events.c.category, events.c.type, events.c.data, events.c.recorded_at)
        .where(sa.or_(*(events.c.type.like(f"%.{verb}") for verb in verbs)))
        .order_by(events.c.position)
    )
    models: dict[str, str] = {}  # job streams (a jobs row) -> the model their params name
    started: dict[str, float | None] = {}
    found: dict[tuple[str, str, str, str], list[float]] = {}

    def observe(category: str, model: str, metric: str, value: float) -> None:
        value = max(0.0, value)
        cell = found.setdefault((category, model, metric, _bucket(metric, value)), [0, 0.0])
        cell[0] += 1
        cell[1] += value

    for row in connection.execute(query):
        verb = row.type.rpartition(".")[2]
        data = json.loads(row.data)
        if verb == "requested" and "job_id" in data:
            if row.stream_id not in models:
                model = (data.get("params") or {}).get("model")
                models[row.stream_id] = model if isinstance(model, str) else ""
            elif data.get("run", 1) > 1:
                started[row.stream_id] = None
        elif row.stream_id not in models:
            continue
        elif verb == "started":
            started[row.stream_id] = row.recorded_at
        elif verb == "completed" and started.get(row.stream_id) is not None:
            model = models[row.stream_id]
            observe(row.category, model, "duration_seconds", row.recorded_at - started[row.stream_id])
            rtf = _rtf(data.get("result"))
            if rtf is not None:
                observe(row.category, model, "real_time_factor", rtf)
    return found


def upgrade() -> None:
    with op.batch_alter_table("worker_processes") as batch:
        batch.add_column(sa.Column("metrics", sa.Text(), nullable=True))
    op.create_index("ix_jobs_category_status", "jobs", ["category", "status"])
    job_timings = op.create_table(
        "job_timings",
        sa.Column("category", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("metric", sa.String(32), primary_key=True),
        sa.Column("le", sa.String(32), primary_key=True),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
    )
    assert job_timings is not None
    rows = [
        {"category": c, "model": m, "metric": metric, "le": le, "observations": int(n), "total": total}
        for (c, m, metric, le), (n, total) in sorted(_timings(op.get_bind()).items())
    ]
    if rows:
        op.bulk_insert(job_timings, rows)


def downgrade() -> None:
    op.drop_table("job_timings")
    op.drop_index("ix_jobs_category_status", table_name="jobs")
    with op.batch_alter_table("worker_processes") as batch:
        batch.drop_column("metrics")
