"""Chat threads on the event store: reading one, sending it a message (the message and its reply job
commit together), and changing or deleting it, each appended at the version it was decided on."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from domain.chat_threads import (
    CATEGORY,
    THREAD_REPLY,
    Attachment,
    MessageSent,
    Thread,
    ThreadChanged,
    ThreadDeleted,
    evolve,
    fold,
    title_from,
)
from domain.errors import InvalidTransition, NotFound
from domain.events import DomainEvent, new_id, stream_id
from domain.kinds import JobKind
from eventstore.base import ConcurrencyError, EventStore, RecordedEvent
from workflows.jobs import MAX_CONFLICT_RETRIES, JobService, to_new_event, unended

AUDIO_TITLE = "Audio message"
"""An untitled thread's title when its first message is audio alone."""


def thread_stream(thread_id: str) -> str:
    return stream_id(CATEGORY, thread_id)


def fold_recorded(recorded: Sequence[RecordedEvent]) -> Thread | None:
    return fold((e.type.partition(".")[2], e.data, e.version, e.recorded_at) for e in recorded)


def load_thread(store: EventStore, thread_id: str) -> Thread | None:
    """The thread (None when it does not exist or was deleted)."""
    thread = fold_recorded(store.read_stream(thread_stream(thread_id)))
    return None if thread is None or thread.deleted else thread


def existing_thread(store: EventStore, thread_id: str) -> Thread:
    thread = load_thread(store, thread_id)
    if thread is None:
        raise NotFound(f"No chat thread {thread_id!r}.")
    return thread


def _metadata(thread_id: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
    return {"correlation_id": thread_stream(thread_id), **(metadata or {})}


def change_thread(
    store: EventStore,
    thread_id: str,
    decide: Callable[[Thread], Sequence[DomainEvent]],
    metadata: dict[str, Any] | None = None,
) -> Thread:
    """Decide events on the thread as it stands and append them at its version; the thread after."""
    stream = thread_stream(thread_id)
    for _ in range(MAX_CONFLICT_RETRIES):
        thread = existing_thread(store, thread_id)
        events = decide(thread)
        if not events:
            return thread
        new = [to_new_event(CATEGORY, e, metadata=_metadata(thread_id, metadata)) for e in events]
        try:
            result = store.append(stream, new, thread.version)
        except ConcurrencyError:
            continue
        return _evolved(thread, events, result.recorded_at)
    raise ConcurrencyError(stream, -1, -1)


@dataclass(frozen=True)
class Sent:
    thread: Thread
    """The thread with the message as its last turn."""
    reply_stream: str


def send_message(
    store: EventStore,
    jobs: JobService,
    thread_id: str,
    *,
    content: str,
    attachments: Sequence[Attachment],
    reply: Callable[[int], BaseModel],
    kind: JobKind[Any] = THREAD_REPLY,
    model: str,
    metadata: dict[str, Any] | None = None,
) -> Sent:
    """Record the user's message as the thread's next turn and its reply job, in one transaction:
    a concurrent send takes the next number (the append is at the version read). ``reply(turn)``
    gives the params of the ``kind`` of job that answers it. An untitled thread is named after its
    first message, in the same append."""
    stream = thread_stream(thread_id)
    for _ in range(MAX_CONFLICT_RETRIES):
        thread = existing_thread(store, thread_id)
        params = reply(thread.next_turn)
        job_id = new_id()
        events: list[DomainEvent] = []
        if thread.title is None:
            events.append(ThreadChanged(changes={"title": title_from(content or AUDIO_TITLE)}))
        events.append(
            MessageSent(
                turn=thread.next_turn,
                message_id=new_id(),
                content=content,
                attachments=tuple(attachments),
                reply_job_id=job_id,
                reply_category=kind.category,
                model=model,
            )
        )
        new = [to_new_event(CATEGORY, e, metadata=_metadata(thread_id, metadata)) for e in events]
        try:
            with store.transaction() as tx:
                result = tx.append(stream, new, thread.version)
                reply_stream = jobs.submit_in(tx, kind, params, job_id=job_id, metadata=metadata)
        except ConcurrencyError:
            continue
        return Sent(_evolved(thread, events, result.recorded_at), reply_stream)
    raise ConcurrencyError(stream, -1, -1)


def _evolved(thread: Thread, events: Sequence[DomainEvent], at: float) -> Thread:
    """The thread after ``events`` were appended to it at ``at``."""
    after: Thread | None = thread
    for offset, event in enumerate(events, start=1):
        after = evolve(after, event.verb, event.payload(), thread.version + offset, at)
    assert after is not None
    return after


def unfinished_replies(store: EventStore, thread: Thread, before: int | None = None) -> list[str]:
    """The reply job streams of the thread's turns (before turn ``before``) that have not ended."""
    turns = thread.turns if before is None else thread.turns[: before - 1]
    return unended(store, (turn.reply_stream for turn in turns if turn.reply is None))


def delete_thread(
    store: EventStore, jobs: JobService, thread_id: str, metadata: dict[str, Any] | None
) -> None:
    """Delete the thread, and cancel the replies it still waits for."""
    thread = change_thread(store, thread_id, lambda _thread: [ThreadDeleted()], metadata)
    for reply_stream in unfinished_replies(store, thread):
        with contextlib.suppress(NotFound, InvalidTransition):
            jobs.request_cancel(reply_stream, "the thread was deleted", metadata)
