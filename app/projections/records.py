"""What every record read model does: one row per record stream, made by the stream's creating
events, changed by its later events, dropped by its deletion.

A subclass names its table (with ``stream_id``, ``updated_at`` and ``last_position`` columns), the
job kinds whose records it keeps, the verbs that create a row (``creators``) and the one that
deletes it, and says in ``changes`` what an event changes in an existing row. Events of a stream
without a row (a job that is not a record, a late event after a deletion) change nothing. A row's
status is the job's, in the words of its kind's status vocabulary (``status``). A projection may
keep a record's parts in tables of their own (``tables`` after the first, each with a
``stream_id`` column), which ``changes`` writes: a deletion drops the stream's rows there too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy import Column, Connection, Delete, Select, Table, Update, bindparam, delete, select, update

from domain.events import DomainEvent
from domain.jobs import JobStatus, status_after
from domain.kinds import JobKind
from eventstore.base import RecordedEvent

Row = Mapping[Any, Any]  # a RowMapping: str keys
Creator = Callable[[Connection, RecordedEvent], None]


class RecordProjection(ABC):
    name: str
    table: ClassVar[Table]
    kinds: ClassVar[tuple[JobKind[Any], ...]]
    deleted_verb: ClassVar[str]
    status_column: ClassVar[str] = "status"

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(kind.category for kind in self.kinds)

    def status(self, category: str, status: JobStatus) -> dict[str, str]:
        """The row's status column for a job status, in the vocabulary of the category's kind."""
        kind = next(kind for kind in self.kinds if kind.category == category)
        return {self.status_column: kind.record_status(status)}

    def status_after(self, category: str, event: DomainEvent | None) -> dict[str, str]:
        """The status column after a lifecycle event; nothing for an event that keeps the status."""
        status = status_after(event) if event is not None else None
        return self.status(category, status) if status is not None else {}

    @property
    def tables(self) -> list[Table]:
        return [self.table]

    @property
    @abstractmethod
    def creators(self) -> Mapping[str, Creator]:
        """By verb: what makes (or, for a rerun, restarts) a stream's row."""

    def columns(self, verb: str) -> Sequence[Column[Any]]:
        """The columns ``changes`` reads for an event of this verb."""
        return [self.table.c.stream_id]

    @abstractmethod
    def changes(
        self, connection: Connection, row: Row, verb: str, event: RecordedEvent
    ) -> dict[str, Any] | None:
        """The new values of the row's columns; None when the event changes nothing, not even
        the row's ``updated_at``. ``connection`` is the append's, for the projection's other tables."""

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if event.category not in self.categories:
            return
        verb = event.type.partition(".")[2]
        create = self.creators.get(verb)
        if create is not None:
            create(connection, event)
            return
        this_stream = {_STREAM: event.stream_id}
        row = connection.execute(_select_row(self.table, self.columns(verb)), this_stream).mappings().first()
        if row is None:
            return
        if verb == self.deleted_verb:
            for table in reversed(self.tables):
                connection.execute(_delete_rows(table), this_stream)
            return
        changes = self.changes(connection, row, verb, event)
        if changes is not None:
            values = {**changes, "updated_at": event.recorded_at, "last_position": event.position}
            connection.execute(_update_row(self.table), {**this_stream, **values})


# Statements built once per table (and column list) and given their values at execution: they run
# inside every append, and building one costs more than running it.
_STREAM = "record_stream_id"
_SELECTS: dict[tuple[str, ...], Select[Any]] = {}
_UPDATES: dict[str, Update] = {}
_DELETES: dict[str, Delete] = {}


def _select_row(table: Table, columns: Sequence[Column[Any]]) -> Select[Any]:
    key = (table.name, *(column.name for column in columns))
    query = _SELECTS.get(key)
    if query is None:
        query = _SELECTS[key] = select(*columns).where(table.c.stream_id == bindparam(_STREAM))
    return query


def _update_row(table: Table) -> Update:
    """The stream's row; the columns set are the parameters' other keys."""
    statement = _UPDATES.get(table.name)
    if statement is None:
        statement = _UPDATES[table.name] = update(table).where(table.c.stream_id == bindparam(_STREAM))
    return statement


def _delete_rows(table: Table) -> Delete:
    statement = _DELETES.get(table.name)
    if statement is None:
        statement = _DELETES[table.name] = delete(table).where(table.c.stream_id == bindparam(_STREAM))
    return statement
