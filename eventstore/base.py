"""The event store port: envelopes, expected versions, filters and the ``EventStore`` protocol."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

ANY: Literal["any"] = "any"
NO_STREAM: Literal["no_stream"] = "no_stream"
ExpectedVersion = int | Literal["any", "no_stream"]


class ConcurrencyError(Exception):
    """The stream's version is not the one the writer expected."""

    def __init__(self, stream_id: str, expected: ExpectedVersion, actual: int) -> None:
        super().__init__(f"stream {stream_id!r} is at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class IdempotencyConflict(Exception):
    """A batch mixes event ids that are already stored with new ones: two writers disagree."""


def category_of(stream_id: str) -> str:
    return stream_id.split("-", 1)[0]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended. ``event_id`` should be deterministic where a retry could repeat it."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    schema_version: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    event_id: str
    stream_id: str
    version: int
    position: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: float

    @property
    def category(self) -> str:
        return category_of(self.stream_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "stream_id": self.stream_id,
            "version": self.version,
            "position": self.position,
            "type": self.type,
            "schema_version": self.schema_version,
            "data": self.data,
            "metadata": self.metadata,
            "recorded_at": datetime.fromtimestamp(self.recorded_at, UTC).isoformat(),
        }


@dataclass(frozen=True, slots=True)
class AppendResult:
    stream_id: str
    version: int
    """The stream's version after the append."""
    positions: tuple[int, ...]
    """Global positions of the batch, in order (the stored ones, for an idempotent retry)."""
    deduplicated: bool = False
    """True when every event id was already stored and nothing was written."""
    recorded_at: float = 0.0
    """When the batch was recorded (0 for an idempotent retry, which recorded nothing)."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Restricts ``read_all`` and subscriptions. Empty fields match everything."""

    stream_id: str | None = None
    category: str | None = None
    types: tuple[str, ...] = ()

    def matches(self, event: RecordedEvent) -> bool:
        if self.stream_id is not None and event.stream_id != self.stream_id:
            return False
        if self.category is not None and event.category != self.category:
            return False
        return not (self.types and event.type not in self.types)


def check_expected_version(stream_id: str, expected: ExpectedVersion, actual: int) -> None:
    if expected == ANY:
        return
    if expected == NO_STREAM:
        if actual != 0:
            raise ConcurrencyError(stream_id, expected, actual)
        return
    if expected != actual:
        raise ConcurrencyError(stream_id, expected, actual)


def run_after_commit(callbacks: Sequence[Callable[[], None]]) -> None:
    """Run after-commit callbacks; one that fails is logged, since the commit itself stands."""
    for callback in callbacks:
        try:
            callback()
        except Exception:
            logging.getLogger(__name__).exception("an after-commit callback failed; the commit stands")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


class StoreTransaction(Protocol):
    """One atomic unit of work: every append in it commits together or not at all."""

    @property
    def connection(self) -> Any:
        """The backend's transaction handle (a SQLAlchemy ``Connection`` for SQL stores, else None)."""
        ...

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult: ...

    def stream_version(self, stream_id: str) -> int: ...

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after a successful commit (never after a rollback)."""
        ...


class EventStore(Protocol):
    def transaction(self) -> AbstractContextManager[StoreTransaction]: ...

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult: ...

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]: ...

    def read_all(
        self, after_position: int = 0, limit: int = 1000, filter: EventFilter | None = None
    ) -> list[RecordedEvent]: ...

    def stream_version(self, stream_id: str) -> int: ...

    def last_position(self) -> int: ...


def iterate_all(
    store: EventStore, after_position: int = 0, filter: EventFilter | None = None, page: int = 1000
) -> Iterator[RecordedEvent]:
    """Every event after ``after_position``, page by page (no transaction held between pages)."""
    while True:
        batch = store.read_all(after_position, page, filter)
        if not batch:
            return
        yield from batch
        after_position = batch[-1].position
        if len(batch) < page:
            return


def stored_positions_or_none(events: Sequence[NewEvent], stored: dict[str, int]) -> tuple[int, ...] | None:
    """The idempotency rule shared by every backend.

    ``stored`` maps the batch's event ids that are already in the store to their positions.
    All stored: the batch is a retry, return the stored positions (nothing is written).
    None stored: a new batch, return None. Some stored: two writers disagree, refuse.
    """
    if not stored:
        return None
    if len(stored) == len(events):
        return tuple(stored[event.event_id] for event in events)
    raise IdempotencyConflict(f"{len(stored)} of {len(events)} event ids in this batch are already stored")
