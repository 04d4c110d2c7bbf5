"""Voice mode on the event store: the profile and memory as they stand, voice sessions read and
changed at the version read, and a turn requested with its job in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from domain.errors import InvalidTransition, NotFound
from domain.events import DomainEvent, new_id, stream_id
from domain.voice import (
    DEFAULT_PROFILE_ID,
    MEMORY_CATEGORY,
    PROFILE_CATEGORY,
    SESSION_CATEGORY,
    VOICE_TURN,
    Observation,
    Profile,
    VoiceSession,
    VoiceTurnParams,
    VoiceTurnRequested,
    evolve_session,
    fold_memory,
    fold_profile,
    fold_session,
)
from eventstore.base import ANY, ConcurrencyError, EventStore
from workflows.jobs import MAX_CONFLICT_RETRIES, JobService, to_new_event, unended

PROFILE_STREAM = stream_id(PROFILE_CATEGORY, DEFAULT_PROFILE_ID)
MEMORY_STREAM = stream_id(MEMORY_CATEGORY, DEFAULT_PROFILE_ID)


def _verbs(store: EventStore, stream: str) -> list[tuple[str, Any, float]]:
    return [(e.type.partition(".")[2], e.data, e.recorded_at) for e in store.read_stream(stream)]


def load_profile(store: EventStore) -> Profile:
    return fold_profile(_verbs(store, PROFILE_STREAM))


def load_memory(store: EventStore) -> list[Observation]:
    return fold_memory(_verbs(store, MEMORY_STREAM))


def append_to(
    store: EventStore, stream: str, events: Sequence[DomainEvent], metadata: dict[str, Any] | None = None
) -> None:
    """Append at any version: a profile change or an observation depends on nothing before it."""
    category = stream.partition("-")[0]
    meta = {"correlation_id": stream, **(metadata or {})}
    store.append(stream, [to_new_event(category, e, metadata=meta) for e in events], ANY)


def session_stream(session_id: str) -> str:
    return stream_id(SESSION_CATEGORY, session_id)


def load_voice_session(store: EventStore, session_id: str) -> VoiceSession:
    recorded = store.read_stream(session_stream(session_id))
    session = fold_session((e.type.partition(".")[2], e.data, e.version, e.recorded_at) for e in recorded)
    if session is None or session.deleted:
        raise NotFound(f"No voice session {session_id!r}.")
    return session


def change_session(
    store: EventStore,
    session_id: str,
    decide: Callable[[VoiceSession], Sequence[DomainEvent]],
    metadata: dict[str, Any] | None = None,
) -> VoiceSession:
    """Decide events on the session as it stands and append them at its version; the session after."""
    stream = session_stream(session_id)
    for _ in range(MAX_CONFLICT_RETRIES):
        session = load_voice_session(store, session_id)
        events = decide(session)
        if not events:
            return session
        meta = {"correlation_id": stream, **(metadata or {})}
        new = [to_new_event(SESSION_CATEGORY, e, metadata=meta) for e in events]
        try:
            result = store.append(stream, new, session.version)
        except ConcurrencyError:
            continue
        after: VoiceSession | None = session
        for offset, event in enumerate(events, start=1):
            after = evolve_session(
                after, event.verb, event.payload(), session.version + offset, result.recorded_at
            )
        assert after is not None
        return after
    raise ConcurrencyError(stream, -1, -1)


def request_turn(
    store: EventStore,
    jobs: JobService,
    session_id: str,
    params: Callable[[int], VoiceTurnParams],
    metadata: dict[str, Any] | None = None,
) -> tuple[int, str]:
    """Record the session's next turn and submit its job, together; its number and job stream."""
    stream = session_stream(session_id)
    for _ in range(MAX_CONFLICT_RETRIES):
        session = load_voice_session(store, session_id)
        if session.ended:
            raise InvalidTransition(f"Voice session {session_id} has ended: start a new one.")
        job_id = new_id()
        requested = VoiceTurnRequested(turn=session.next_turn, job_id=job_id)
        meta = {"correlation_id": stream, **(metadata or {})}
        try:
            with store.transaction() as tx:
                tx.append(stream, [to_new_event(SESSION_CATEGORY, requested, metadata=meta)], session.version)
                job_stream = jobs.submit_in(
                    tx, VOICE_TURN, params(session.next_turn), job_id=job_id, metadata=metadata
                )
        except ConcurrencyError:
            continue
        return session.next_turn, job_stream
    raise ConcurrencyError(stream, -1, -1)


def unfinished_turns(store: EventStore, session: VoiceSession, before: int) -> list[str]:
    """The job streams of the session's turns before ``before`` that have not ended."""
    return unended(store, (turn.job_stream for turn in session.turns[: before - 1] if turn.recorded is None))
