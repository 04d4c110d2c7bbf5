"""Inline projections: read-model tables updated in the same transaction as the append.

A projection is a pure function of the events it is given, so replaying every event from
position 1 into empty tables must reproduce the tables exactly (``rebuild``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table, delete, select

from eventstore.base import RecordedEvent
from eventstore.db import is_sqlite, read_transaction
from eventstore.sql import SqlEventStore

REBUILD_PAGE = 2000


class Projection(Protocol):
    name: str

    @property
    def tables(self) -> Sequence[Table]: ...

    def apply(self, connection: Connection, event: RecordedEvent) -> None: ...


class ProjectionRegistry:
    def __init__(self, projections: Sequence[Projection] = ()) -> None:
        self._projections: list[Projection] = []
        for projection in projections:
            self.register(projection)

    def register(self, projection: Projection) -> None:
        if any(p.name == projection.name for p in self._projections):
            raise ValueError(f"projection {projection.name!r} is already registered")
        self._projections.append(projection)

    @property
    def projections(self) -> tuple[Projection, ...]:
        return tuple(self._projections)

    @property
    def tables(self) -> list[Table]:
        return [table for projection in self._projections for table in projection.tables]

    def project(self, connection: Connection, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            for projection in self._projections:
                projection.apply(connection, event)

    def rebuild(self, store: SqlEventStore) -> int:
        """Empty every projection table and replay every event, in one write transaction."""
        replayed = 0
        with store.transaction() as tx:
            connection = tx.connection
            if not is_sqlite(connection):
                # Appends wait until the rebuild commits; the ones in flight finish first.
                connection.exec_driver_sql("LOCK TABLE events IN SHARE MODE")
            for table in reversed(self.tables):
                connection.execute(delete(table))
            after = 0
            while batch := store.read_all_in(connection, after, REBUILD_PAGE):
                self.project(connection, batch)
                replayed += len(batch)
                after = batch[-1].position
        return replayed

    def dump(self, engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
        """Every projection row, sorted: what a rebuild must reproduce."""
        with read_transaction(engine) as connection:
            return {
                table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
                for table in self.tables
            }
