"""Tables of the embedded broker and of worker heartbeats (created by Alembic)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from eventstore.schema import metadata

queue_messages = Table(
    "queue_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("queue_name", String(100), nullable=False),
    Column("message_id", String(36), nullable=False),
    Column("actor_name", String(200), nullable=False),
    Column("body", Text, nullable=False),
    # ready | leased | dead
    Column("state", String(16), nullable=False),
    Column("available_at", Float, nullable=False),
    Column("locked_until", Float, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("deliveries", Integer, nullable=False, default=0),
    Column("enqueued_at", Float, nullable=False),
)
Index("ix_queue_messages_fetch", queue_messages.c.queue_name, queue_messages.c.state, queue_messages.c.id)
Index("ix_queue_messages_message_id", queue_messages.c.message_id)
Index("ix_queue_messages_lease_owner", queue_messages.c.lease_owner)

worker_processes = Table(
    "worker_processes",
    metadata,
    Column("worker_id", String(64), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("queues", Text, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("stopped_at", Float, nullable=True),
    # The worker's own telemetry as of its last beat (workers/heartbeat.py ``WorkerMetrics``, JSON).
    Column("metrics", Text, nullable=True),
)

# Messages for brokers that cannot join the SQL transaction (Redis, RabbitMQ): written in the
# transaction that records the job, then relayed to the broker (workers/outbox.py).
outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False),
    Column("queue_name", String(100), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    # The relay sends a row once this has passed; sending pushes it forward (a claim), so
    # relays in several processes never send one row at the same time.
    Column("next_attempt_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
)
Index("ix_outbox_messages_next_attempt", outbox_messages.c.next_attempt_at)
