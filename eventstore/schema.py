"""Table definitions of the event store. Alembic (``migrations/``) creates them; nothing else does."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# One MetaData for every Sauti table (events, queue, projections), so that the migration
# check can compare the whole database against the code.
metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("category", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(200), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("data", Text, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("recorded_at", Float, nullable=False),
    # Postgres only (NULL on SQLite): the event is safe to read once every transaction up to
    # this id has ended (eventstore/postgres.py).
    Column("visible_after_xid", BigInteger, nullable=True),
    UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
)
Index("ix_events_category_position", events.c.category, events.c.position)
Index("ix_events_type_position", events.c.type, events.c.position)
