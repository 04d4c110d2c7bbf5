"""Concurrent appends on Postgres (issue 12): ``events.visible_after_xid`` and, on Postgres only,
the position allocator and the stream lock.

Postgres writers no longer share one lock for their whole transaction, so positions may commit out
of order. ``sauti_allocate_positions(n)`` hands out ``n`` consecutive positions and the event's
``visible_after_xid``: the greatest transaction id that has allocated so far, this one's included.
Allocation order is position order, so that value never decreases as positions grow; a reader
that only takes events whose ``visible_after_xid`` is below its snapshot's oldest running
transaction sees a prefix of positions that no later commit can add to.

``sauti_stream_state(stream, ids)`` takes the stream's transaction-scoped advisory lock, then reads
its version and which of ``ids`` are stored (a volatile function: each query sees what committed
before the lock was granted), so writers of one stream queue while other streams go on.

The allocator holds a session advisory lock for the few statements of the function only (never
across a round trip), released even when they fail. On SQLite (one writer at a time) the column
stays NULL and nothing else changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ALLOCATOR_LOCK_KEY = 0x5A0718
_STREAM_LOCK_CLASS = 0x5A07  # the first key of the two-key advisory lock space: "sauti stream"

_CREATE_STREAM_STATE = f"""
CREATE FUNCTION sauti_stream_state(stream text, event_ids text[], OUT stream_version integer, OUT stored json)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({_STREAM_LOCK_CLASS}, hashtext(stream));
    SELECT max(e.version) INTO stream_version FROM events e WHERE e.stream_id = stream;
    SELECT json_object_agg(e.event_id, e.position) INTO stored FROM events e WHERE e.event_id = ANY(event_ids);
END
$$
"""

_CREATE_ALLOCATOR = f"""
CREATE FUNCTION sauti_allocate_positions(batch integer, OUT first_position bigint, OUT visible_after_xid bigint)
LANGUAGE plpgsql AS $$
DECLARE
    me bigint := pg_current_xact_id()::text::bigint;
BEGIN
    BEGIN
        PERFORM pg_advisory_lock({_ALLOCATOR_LOCK_KEY});
        first_position := nextval('sauti_event_positions');
        IF batch > 1 THEN
            PERFORM setval('sauti_event_positions', first_position + batch - 1);
        END IF;
        SELECT greatest(last_value, me) INTO visible_after_xid FROM sauti_event_horizon;
        PERFORM setval('sauti_event_horizon', visible_after_xid);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM pg_advisory_unlock({_ALLOCATOR_LOCK_KEY});
        RAISE;
    END;
    PERFORM pg_advisory_unlock({_ALLOCATOR_LOCK_KEY});
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("visible_after_xid", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        return
    # Every stored event was committed under the old global lock: visible to everyone.
    op.execute("UPDATE events SET visible_after_xid = 0")
    op.execute("CREATE SEQUENCE sauti_event_positions AS bigint")
    op.execute("SELECT setval('sauti_event_positions', coalesce(max(position), 0) + 1, false) FROM events")
    op.execute("CREATE SEQUENCE sauti_event_horizon AS bigint MINVALUE 0 START WITH 0")
    op.execute(_CREATE_ALLOCATOR)
    op.execute(_CREATE_STREAM_STATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION sauti_stream_state(text, text[])")
        op.execute("DROP FUNCTION sauti_allocate_positions(integer)")
        op.execute("DROP SEQUENCE sauti_event_horizon")
        op.execute("DROP SEQUENCE sauti_event_positions")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("visible_after_xid")
