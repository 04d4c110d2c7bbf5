"""One page of a record read model, newest first by ``created_position`` (the cursor's key)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, Select, Table

from eventstore.base import RecordedEvent
from eventstore.db import read_transaction


def listing_columns(event: RecordedEvent) -> dict[str, Any]:
    """What a listed row keeps of the event that creates it: its stream, its times, and the
    positions a page is cut at (``created_position``) and a change is seen by (``last_position``)."""
    return {
        "stream_id": event.stream_id,
        "created_at": event.recorded_at,
        "updated_at": event.recorded_at,
        "created_position": event.position,
        "last_position": event.position,
    }


def newest_first(
    engine: Engine, table: Table, query: Select[Any], before: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` rows of ``query`` over ``table``, newest first, created before position
    ``before``; and whether there are more."""
    with read_transaction(engine) as connection:
        return newest_first_in(connection, table, query, before, limit)


def newest_first_in(
    connection: Connection, table: Table, query: Select[Any], before: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """``newest_first`` inside a transaction the caller holds (to read more in the same one)."""
    if before is not None:
        query = query.where(table.c.created_position < before)
    query = query.order_by(table.c.created_position.desc()).limit(limit + 1)
    rows = [dict(row) for row in connection.execute(query).mappings()]
    return rows[:limit], len(rows) > limit
