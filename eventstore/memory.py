"""An in-memory event store for unit tests. Same semantics as the SQL store, no persistence."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventstore.base import (
    ANY,
    AppendResult,
    EventFilter,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    check_expected_version,
    run_after_commit,
    stored_positions_or_none,
)
from eventstore.upcasting import Upcasters


class _MemoryTransaction:
    def __init__(self, store: InMemoryEventStore) -> None:
        self._store = store
        self.pending: list[RecordedEvent] = []
        self.callbacks: list[Callable[[], None]] = []

    @property
    def connection(self) -> Any:
        return None

    def stream_version(self, stream_id: str) -> int:
        pending = [e.version for e in self.pending if e.stream_id == stream_id]
        return max(pending) if pending else self._store._committed_version(stream_id)

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion = ANY
    ) -> AppendResult:
        if not events:
            raise ValueError("append needs at least one event")
        known = {e.event_id: e.position for e in (*self._store._events, *self.pending)}
        stored = {e.event_id: known[e.event_id] for e in events if e.event_id in known}
        positions = stored_positions_or_none(events, stored)
        current = self.stream_version(stream_id)
        if positions is not None:
            return AppendResult(stream_id, current, positions, deduplicated=True)
        check_expected_version(stream_id, expected_version, current)
        next_position = (self.pending[-1].position if self.pending else len(self._store._events)) + 1
        now = time.time()
        recorded = [
            RecordedEvent(
                event_id=event.event_id,
                stream_id=stream_id,
                version=current + offset,
                position=next_position + offset - 1,
                type=event.type,
                schema_version=event.schema_version,
                data=copy.deepcopy(event.data),
                metadata=copy.deepcopy(event.metadata),
                recorded_at=now,
            )
            for offset, event in enumerate(events, start=1)
        ]
        self.pending.extend(recorded)
        return AppendResult(
            stream_id, current + len(events), tuple(e.position for e in recorded), recorded_at=now
        )

    def on_commit(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)


class InMemoryEventStore:
    def __init__(self, upcasters: Upcasters | None = None) -> None:
        self._events: list[RecordedEvent] = []
        self._lock = threading.RLock()
        self._upcasters = upcasters or Upcasters()
        self.listeners: list[Callable[[Sequence[RecordedEvent]], None]] = []

    def _committed_version(self, stream_id: str) -> int:
        versions = [e.version for e in self._events if e.stream_id == stream_id]
        return max(versions) if versions else 0

    @contextmanager
    def transaction(self) -> Iterator[_MemoryTransaction]:
        with self._lock:
            tx = _MemoryTransaction(self)
            yield tx
            self._events.extend(tx.pending)
            for listener in self.listeners:
                listener(tx.pending)
        run_after_commit(tx.callbacks)

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersion = ANY
    ) -> AppendResult:
        with self.transaction() as tx:
            return tx.append(stream_id, events, expected_version)

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        with self._lock:
            return [
                self._upcasters.upcast(e)
                for e in self._events
                if e.stream_id == stream_id and e.version >= from_version
            ]

    def read_all(
        self, after_position: int = 0, limit: int = 1000, filter: EventFilter | None = None
    ) -> list[RecordedEvent]:
        with self._lock:
            selected = [e for e in self._events[after_position:] if filter is None or filter.matches(e)][
                :limit
            ]
        return [self._upcasters.upcast(e) for e in selected]

    def stream_version(self, stream_id: str) -> int:
        with self._lock:
            return self._committed_version(stream_id)

    def last_position(self) -> int:
        with self._lock:
            return len(self._events)
