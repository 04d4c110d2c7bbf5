"""The SQL event store: SQLite by default, Postgres by URL, one code path for both."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Connection, Engine, Select, bindparam, func, select

from eventstore.appenders import Appender, appender_for
from eventstore.base import (
    ANY,
    AppendResult,
    ConcurrencyError,
    EventFilter,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    category_of,
    check_expected_version,
    dumps,
    run_after_commit,
    stored_positions_or_none,
)
from eventstore.db import read_transaction, write_transaction
from eventstore.schema import events as events_table
from eventstore.upcasting import Upcasters

# What an event is; ``visible_after_xid`` is the store's own, and a database an older revision made
# (tests of a migration write to one) has no such column.
_ENVELOPE = [column for column in events_table.c if column.name != "visible_after_xid"]


# Built once and given their values at execution: a job run reads its stream after every append.
_READ_STREAM = (
    select(*_ENVELOPE)
    .where(
        events_table.c.stream_id == bindparam("read_stream_id"),
        events_table.c.version >= bindparam("from_version"),
    )
    .order_by(events_table.c.version)
)


class InlineProjector(Protocol):
    """Updates read models inside the append's own transaction."""

    def project(self, connection: Connection, events: Sequence[RecordedEvent]) -> None: ...


class _SqlTransaction:
    def __init__(self, store: SqlEventStore, connection: Connection) -> None:
        self._store = store
        self._connection = connection
        self.callbacks: list[Callable[[], None]] = []
        self.appended = 0

    @property
    def connection(self) -> Connection:
        return self._connection

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        cursor = self._connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            yield cursor
        finally:
            cursor.close()

    def stream_version(self, stream_id: str) -> int:
        with self._cursor() as cursor:
            return self._store.appender.stream_version(cursor, stream_id)

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion = ANY
    ) -> AppendResult:
        if not events:
            raise ValueError("append needs at least one event")
        ids = [event.event_id for event in events]
        if len(set(ids)) != len(ids):
            raise ValueError("a batch must not repeat an event id")
        appender = self._store.appender
        with self._cursor() as cursor:
            state = appender.prepare(cursor, stream_id, ids)
            current = state.version
            positions = stored_positions_or_none(events, state.stored)
            if positions is not None:
                return AppendResult(stream_id, current, positions, deduplicated=True)
            check_expected_version(stream_id, expected_version, current)
            now = time.time()
            ambient = self._store.metadata_provider() if self._store.metadata_provider else {}
            metadata = [{**ambient, **event.metadata} for event in events]
            category = category_of(stream_id)
            rows = [
                (
                    event.event_id,
                    stream_id,
                    category,
                    current + offset + 1,
                    event.type,
                    event.schema_version,
                    dumps(event.data),
                    dumps(metadata[offset]),
                    now,
                )
                for offset, event in enumerate(events)
            ]
            try:
                first_position = appender.insert(cursor, state, rows)
            except self._connection.dialect.loaded_dbapi.IntegrityError as exc:
                # The stream lock (Postgres) or the write lock (SQLite) makes this a backstop only.
                raise ConcurrencyError(stream_id, expected_version, current) from exc
        recorded = [
            RecordedEvent(
                event_id=event.event_id,
                stream_id=stream_id,
                version=current + offset + 1,
                position=first_position + offset,
                type=event.type,
                schema_version=event.schema_version,
                data=event.data,
                metadata=metadata[offset],
                recorded_at=now,
            )
            for offset, event in enumerate(events)
        ]
        self.appended += len(recorded)
        if self._store.projector is not None:
            self._store.projector.project(self._connection, recorded)
        return AppendResult(
            stream_id, current + len(events), tuple(e.position for e in recorded), recorded_at=now
        )

    def on_commit(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)


class SqlEventStore:
    def __init__(
        self,
        engine: Engine,
        *,
        projector: InlineProjector | None = None,
        upcasters: Upcasters | None = None,
        after_commit: Callable[[], None] | None = None,
        metadata_provider: Callable[[], dict[str, Any]] | None = None,
        append_observer: Callable[[float], None] | None = None,
    ) -> None:
        """``metadata_provider`` adds ambient metadata (the current request id) to every event;
        an event's own metadata wins over it. ``append_observer`` gets the seconds of every write
        transaction that appended, from its start (waiting for the write lock included) to its
        commit."""
        self.engine = engine
        self.projector = projector
        self.metadata_provider = metadata_provider
        self._upcasters = upcasters or Upcasters()
        self._after_commit = after_commit
        self.appender: Appender = appender_for(engine.dialect.name)
        self.append_observer = append_observer
        self._read_all_queries: dict[tuple[frozenset[str], bool], Select[Any]] = {}
        visible = self.appender.visible_clause()
        last = select(func.max(events_table.c.position))
        self._last_position_query = last if visible is None else last.where(visible)

    @contextmanager
    def transaction(self) -> Iterator[_SqlTransaction]:
        started = time.perf_counter()
        with write_transaction(self.engine) as connection:
            tx = _SqlTransaction(self, connection)
            yield tx
        if tx.appended and self.append_observer is not None:
            self.append_observer(time.perf_counter() - started)
        if tx.appended and self._after_commit is not None:
            self._after_commit()
        run_after_commit(tx.callbacks)

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion = ANY
    ) -> AppendResult:
        with self.transaction() as tx:
            return tx.append(stream_id, events, expected_version)

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        values = {"read_stream_id": stream_id, "from_version": from_version}
        with read_transaction(self.engine) as connection:
            return [self._decode(row) for row in connection.execute(_READ_STREAM, values)]

    def read_all(
        self, after_position: int = 0, limit: int = 1000, filter: EventFilter | None = None
    ) -> list[RecordedEvent]:
        """Events in position order, never past one whose transaction may still commit an earlier
        position."""
        with read_transaction(self.engine) as connection:
            return self._read_all(connection, after_position, limit, filter, self.appender.visible_clause())

    def read_all_in(
        self,
        connection: Connection,
        after_position: int = 0,
        limit: int = 1000,
        filter: EventFilter | None = None,
    ) -> list[RecordedEvent]:
        """``read_all`` inside a transaction the caller holds (projection rebuilds): everything its
        snapshot sees, so the caller must keep appends out (``ProjectionRegistry.rebuild`` does)."""
        return self._read_all(connection, after_position, limit, filter, None)

    def _read_all(
        self,
        connection: Connection,
        after_position: int,
        limit: int,
        filter: EventFilter | None,
        visible: ColumnElement[bool] | None,
    ) -> list[RecordedEvent]:
        values: dict[str, Any] = {"after_position": after_position, "read_limit": limit}
        if filter is not None:
            if filter.stream_id is not None:
                values["read_stream_id"] = filter.stream_id
            if filter.category is not None:
                values["read_category"] = filter.category
            if filter.types:
                values["read_types"] = list(filter.types)
        query = self._read_all_query(frozenset(values), visible)
        return [self._decode(row) for row in connection.execute(query, values)]

    def _read_all_query(self, names: frozenset[str], visible: ColumnElement[bool] | None) -> Select[Any]:
        """The query for a shape of filter, built once (the event hub reads after every commit)."""
        key = (names, visible is not None)
        query = self._read_all_queries.get(key)
        if query is not None:
            return query
        query = select(*_ENVELOPE).where(events_table.c.position > bindparam("after_position"))
        if visible is not None:
            query = query.where(visible)
        if "read_stream_id" in names:
            query = query.where(events_table.c.stream_id == bindparam("read_stream_id"))
        if "read_category" in names:
            query = query.where(events_table.c.category == bindparam("read_category"))
        if "read_types" in names:
            query = query.where(events_table.c.type.in_(bindparam("read_types")))
        query = query.order_by(events_table.c.position).limit(bindparam("read_limit"))
        self._read_all_queries[key] = query
        return query

    def stream_version(self, stream_id: str) -> int:
        query = select(func.max(events_table.c.version)).where(events_table.c.stream_id == stream_id)
        with read_transaction(self.engine) as connection:
            return int(connection.execute(query).scalar() or 0)

    def last_position(self) -> int:
        """The last position ``read_all`` can return now."""
        with read_transaction(self.engine) as connection:
            return int(connection.execute(self._last_position_query).scalar() or 0)

    def _decode(self, row: Any) -> RecordedEvent:
        event = RecordedEvent(
            event_id=row.event_id,
            stream_id=row.stream_id,
            version=row.version,
            position=row.position,
            type=row.type,
            schema_version=row.schema_version,
            data=json.loads(row.data),
            metadata=json.loads(row.metadata),
            recorded_at=row.recorded_at,
        )
        return self._upcasters.upcast(event)
