"""Deleting a record, a saved voice, a response or a media path: one path for all of them.

A job still running on the stream is cancelled first. The deletion event is appended in a
transaction that reads the stream's media claims, which the event releases (``media_references``).
Then the files that no stream claims any more are removed the guarded way the sweep removes them:
only bytes last stored before the stream's last event go, so bytes that another job has just
stored again, for an event about to claim them, are kept (the sweep judges them later). The
stream's events stay: the audit keeps that it existed, not its audio.
"""

from __future__ import annotations

import contextlib
from typing import Any

from app.bootstrap import Container, request_metadata
from app.maintenance.media_sweep import remove_unclaimed
from app.projections.media_refs import stream_media_in
from domain.errors import InvalidTransition, NotFound
from domain.events import DomainEvent
from eventstore.base import ConcurrencyError, RecordedEvent, category_of
from eventstore.media import MediaStore
from eventstore.sql import SqlEventStore
from workflows.jobs import MAX_CONFLICT_RETRIES, JobService, to_new_event


def delete_stream(
    store: SqlEventStore,
    media: MediaStore,
    stream_id: str,
    deleted: DomainEvent,
    *,
    metadata: dict[str, Any],
    jobs: JobService | None = None,
    reason: str = "deleted",
) -> bool:
    """Append ``deleted`` to the stream and remove the media it alone claimed; False when there
    is nothing to delete (no stream, or its last event already is that deletion)."""
    metadata = {"correlation_id": stream_id, **metadata}
    if jobs is not None:
        with contextlib.suppress(InvalidTransition, NotFound):
            jobs.request_cancel(stream_id, reason, metadata)
    category = category_of(stream_id)
    event_type = deleted.type_for(category)
    for _ in range(MAX_CONFLICT_RETRIES):
        events = store.read_stream(stream_id)
        if not events or events[-1].type == event_type:
            return False
        last = events[-1]
        try:
            with store.transaction() as tx:
                claimed = stream_media_in(tx.connection, stream_id)
                tx.append(stream_id, [to_new_event(category, deleted, metadata=metadata)], last.version)
        except ConcurrencyError:
            continue  # its worker appended meanwhile
        release_media(store, media, claimed, last)
        return True
    raise ConcurrencyError(stream_id, "any", -1)


def delete_record(container: Container, stream_id: str, deleted: DomainEvent, *, reason: str) -> bool:
    """``delete_stream`` as a route deletes: with the container's store, media and jobs, and the
    metadata of the request being served."""
    return delete_stream(
        container.store,
        container.media,
        stream_id,
        deleted,
        metadata=request_metadata(),
        jobs=container.jobs,
        reason=reason,
    )


def release_media(store: SqlEventStore, media: MediaStore, digests: list[str], last: RecordedEvent) -> None:
    """Remove the files of ``digests`` that no stream claims now that the stream whose last event
    was ``last`` gave them up (only those stored before it: see the module's docstring)."""
    if digests:
        remove_unclaimed(media, store.engine, digests, stored_before=last.recorded_at)
