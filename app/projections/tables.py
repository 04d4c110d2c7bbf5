"""Read-model tables. Every row here is derived from events and rebuilt by replaying them."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from eventstore.schema import metadata

jobs = Table(
    "jobs",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("category", String(64), nullable=False),
    Column("job_id", String(100), nullable=False),
    Column("status", String(32), nullable=False),
    Column("progress", Float, nullable=False, default=0.0),
    Column("attempt", Integer, nullable=False, default=0),
    Column("params", Text, nullable=False),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("last_position", Integer, nullable=False),
)
Index("ix_jobs_category_created", jobs.c.category, jobs.c.created_at)
Index("ix_jobs_status", jobs.c.status)
