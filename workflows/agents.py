"""Agent sessions on the event store: creating one with its linked thread (one transaction), reading
it, and the port through which a turn's tools read the user's recordings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from domain.agents import CATEGORY, Session, SessionCreated, fold_session
from domain.chat_threads import CATEGORY as THREAD_CATEGORY
from domain.chat_threads import ThreadCreated
from domain.errors import NotFound
from domain.events import new_id, stream_id
from eventstore.base import NO_STREAM, EventStore
from workflows.jobs import to_new_event


def session_stream(session_id: str) -> str:
    return stream_id(CATEGORY, session_id)


def load_session(store: EventStore, session_id: str) -> Session:
    recorded = store.read_stream(session_stream(session_id))
    session = fold_session((e.type.partition(".")[2], e.data, e.version, e.recorded_at) for e in recorded)
    if session is None:
        raise NotFound(f"No agent session {session_id!r}.")
    return session


def create_session(
    store: EventStore,
    *,
    agent_id: str,
    model: str,
    system_prompt: str | None,
    planning_mode: Any,
    title: str | None,
    metadata: dict[str, Any] | None = None,
) -> Session:
    """The session and its linked chat thread, recorded together."""
    session_id, thread_id = new_id(), new_id()
    created = SessionCreated(
        session_id=session_id,
        agent_id=agent_id,
        model=model,
        system_prompt=system_prompt,
        planning_mode=planning_mode,
        title=title,
        thread_id=thread_id,
    )
    thread = ThreadCreated(
        thread_id=thread_id,
        title=title,
        model=model,
        system_prompt=system_prompt,
        agent_session_id=session_id,
    )
    stream = session_stream(session_id)
    meta = {"correlation_id": stream, **(metadata or {})}
    with store.transaction() as tx:
        tx.append(stream, [to_new_event(CATEGORY, created, metadata=meta)], NO_STREAM)
        tx.append(
            stream_id(THREAD_CATEGORY, thread_id),
            [to_new_event(THREAD_CATEGORY, thread, metadata=meta)],
            NO_STREAM,
        )
    return load_session(store, session_id)


# --- what the tools read ----------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedSegment:
    start: float
    end: float
    text: str
    speaker: str | None = None
    """The speaker's name where the user named them, else their label; None without diarization."""


@dataclass(frozen=True)
class Recording:
    id: str
    title: str
    duration: float | None
    created_at: float
    version: int
    """Changes whenever the transcript may have (the record's last position)."""
    segments: tuple[RecordedSegment, ...] = ()


class Recordings(Protocol):
    """The user's transcribed recordings, as the records read model shows them."""

    def listed(self, limit: int) -> list[Recording]:
        """The newest ready recordings, without their segments."""
        ...

    def transcribed(self) -> list[Recording]:
        """Every ready recording that has a transcript, with its segments."""
        ...

    def find(self, record_id: str) -> Recording | None:
        """One ready recording with its segments."""
        ...


def passages_of(recording: Recording, max_words: int = 60) -> list[tuple[float, float, str]]:
    """A recording's transcript cut into passages of whole segments, up to ``max_words`` each
    (one segment longer than that is a passage of its own): what a search compares with a query."""
    found: list[tuple[float, float, str]] = []
    start, end = 0.0, 0.0
    words: list[str] = []
    for segment in recording.segments:
        text = segment.text.strip()
        if not text:
            continue
        said = f"{segment.speaker}: {text}" if segment.speaker else text
        count = len(said.split())
        if words and len(words) + count > max_words:
            found.append((start, end, " ".join(words)))
            words = []
        if not words:
            start = segment.start
        words.extend(said.split())
        end = segment.end
    if words:
        found.append((start, end, " ".join(words)))
    return found


def segments_between(
    recording: Recording, start: float | None, end: float | None
) -> Sequence[RecordedSegment]:
    return [
        s for s in recording.segments if (start is None or s.end > start) and (end is None or s.start < end)
    ]
