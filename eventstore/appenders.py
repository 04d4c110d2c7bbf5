"""The SQL of an append, one class per database, run on the driver's own cursor (no statement
building on the hot path).

SQLite serialises writers (``BEGIN IMMEDIATE``): a position is the last one plus one.

Postgres lets independent streams append in parallel:

- writers of one stream queue on a transaction-scoped advisory lock keyed by the stream id, which
  ``sauti_stream_state`` (migration 0009) takes before it reads the stream's version and the
  batch's stored event ids, so expected versions and idempotent retries hold without relying on
  the unique constraints (which stay as a backstop);
- ``sauti_allocate_positions`` (migration 0009) gives a batch its positions and a
  ``visible_after_xid`` that never decreases as positions grow; readers (``visible_clause``) only
  take events whose value is below the oldest transaction still running in their snapshot. An
  event at position p+1 therefore stays hidden while the transaction holding p is open, and
  appears together with p once it ends. A rolled-back transaction leaves a gap in the positions.

A long-running write transaction anywhere on the server delays (never skips) what readers see.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, literal_column

from eventstore.schema import events

Row = tuple[Any, ...]
"""An event's columns from ``event_id`` to ``recorded_at``, in table order."""

_COLUMNS = "event_id, stream_id, category, version, type, schema_version, data, metadata, recorded_at"
_WIDTH = len(_COLUMNS.split(", "))


@dataclass(frozen=True, slots=True)
class StreamState:
    version: int
    """The stream's version before this append."""
    stored: dict[str, int]
    """The batch's event ids that are already stored, with their positions."""
    last_position: int
    """The greatest stored position (SQLite only; 0 on Postgres, where it is not needed)."""


class Appender(Protocol):
    def prepare(self, cursor: Any, stream_id: str, event_ids: Sequence[str]) -> StreamState: ...

    def insert(self, cursor: Any, state: StreamState, rows: Sequence[Row]) -> int:
        """Store ``rows``; the first one's position (the others follow it)."""
        ...

    def stream_version(self, cursor: Any, stream_id: str) -> int: ...

    def visible_clause(self) -> ColumnElement[bool] | None:
        """What ``read_all`` and ``last_position`` add so that they never run ahead of a commit."""
        ...


class SqliteAppender:
    _INSERT = f"INSERT INTO events (position, {_COLUMNS}) VALUES ({', '.join('?' * (_WIDTH + 1))})"

    def __init__(self) -> None:
        self._lookups: dict[int, str] = {}

    def _lookup(self, count: int) -> str:
        sql = self._lookups.get(count)
        if sql is None:
            sql = self._lookups[count] = (
                "SELECT (SELECT max(version) FROM events WHERE stream_id = ?),"
                " (SELECT max(position) FROM events),"
                " (SELECT json_group_object(event_id, position) FROM events"
                f" WHERE event_id IN ({', '.join('?' * count)}))"
            )
        return sql

    def prepare(self, cursor: Any, stream_id: str, event_ids: Sequence[str]) -> StreamState:
        found = cursor.execute(self._lookup(len(event_ids)), (stream_id, *event_ids)).fetchone()
        version, last, stored = found
        return StreamState(int(version or 0), json.loads(stored) if stored else {}, int(last or 0))

    def insert(self, cursor: Any, state: StreamState, rows: Sequence[Row]) -> int:
        first = state.last_position + 1
        cursor.executemany(self._INSERT, [(first + offset, *row) for offset, row in enumerate(rows)])
        return first

    def stream_version(self, cursor: Any, stream_id: str) -> int:
        found = cursor.execute("SELECT max(version) FROM events WHERE stream_id = ?", (stream_id,)).fetchone()
        return int(found[0] or 0)

    def visible_clause(self) -> ColumnElement[bool] | None:
        return None


class PostgresAppender:
    _STATE = "SELECT stream_version, stored FROM sauti_stream_state(%s, %s)"

    def __init__(self) -> None:
        self._inserts: dict[int, str] = {}

    def _insert(self, count: int) -> str:
        sql = self._inserts.get(count)
        if sql is None:
            row = f"({', '.join(['%s'] * (_WIDTH + 1))})"
            sql = self._inserts[count] = (
                "WITH allocated AS MATERIALIZED (SELECT * FROM sauti_allocate_positions(%s))"
                f" INSERT INTO events (position, {_COLUMNS}, visible_after_xid)"
                f" SELECT allocated.first_position + v.o, {_prefixed('v.')}, allocated.visible_after_xid"
                f" FROM allocated, (VALUES {', '.join([row] * count)}) AS v(o, {_COLUMNS})"
                " RETURNING position"
            )
        return sql

    def prepare(self, cursor: Any, stream_id: str, event_ids: Sequence[str]) -> StreamState:
        version, stored = cursor.execute(self._STATE, (stream_id, list(event_ids))).fetchone()
        return StreamState(int(version or 0), dict(stored or {}), 0)

    def insert(self, cursor: Any, state: StreamState, rows: Sequence[Row]) -> int:
        params: list[Any] = [len(rows)]
        for offset, row in enumerate(rows):
            params.append(offset)
            params.extend(row)
        positions = cursor.execute(self._insert(len(rows)), params).fetchall()
        return int(min(position for (position,) in positions))

    def stream_version(self, cursor: Any, stream_id: str) -> int:
        query = "SELECT max(version) FROM events WHERE stream_id = %s"
        found = cursor.execute(query, (stream_id,)).fetchone()
        return int(found[0] or 0)

    def visible_clause(self) -> ColumnElement[bool] | None:
        return events.c.visible_after_xid < literal_column(
            "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"
        )


def _prefixed(prefix: str) -> str:
    return ", ".join(prefix + column for column in _COLUMNS.split(", "))


def appender_for(dialect_name: str) -> Appender:
    return SqliteAppender() if dialect_name == "sqlite" else PostgresAppender()
