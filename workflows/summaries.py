"""Asking for a record's summary: the HTTP route (regenerate) and the transcription and
diarization actors (``generate_summary``) both go through ``request_summary``."""

from __future__ import annotations

import uuid
from typing import Any

from domain.errors import NotFound
from domain.events import new_id
from domain.summaries import ACTOR, SummaryRequested
from eventstore.base import EventStore
from workflows.jobs import JobDispatcher, to_new_event


def request_summary(
    store: EventStore,
    dispatcher: JobDispatcher,
    stream_id: str,
    model: str,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Append ``summary_requested`` and send ``summarize_record`` its message, in one transaction.

    Returns the new summary's id. Raises NotFound for a stream that does not exist.
    """
    summary_id = new_id()
    category = stream_id.split("-", 1)[0]
    event = SummaryRequested(summary_id=summary_id, model=model)
    meta = {"correlation_id": stream_id, **(metadata or {})}
    with store.transaction() as tx:
        if tx.stream_version(stream_id) == 0:
            raise NotFound(f"no record {stream_id}")
        tx.append(stream_id, [to_new_event(category, event, metadata=meta)])
        dispatcher.dispatch(tx, ACTOR, stream_id, str(uuid.uuid4()))
    return summary_id
