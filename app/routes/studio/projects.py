"""Reading and changing a Studio project: its stream folded (``domain.studio.fold``), an edit
decided on the project as read and appended at the version read (another edit first: decided
again on the new state), and the project's JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from quart import current_app
from sqlalchemy import Engine, Table, select

from app.bootstrap import Container, request_metadata
from domain.errors import NotFound
from domain.events import DomainEvent, stream_id
from domain.studio import (
    BASE_URL,
    CATEGORY,
    PROJECT_OBJECT,
    Project,
    Pronunciation,
    Segment,
    evolve,
)
from domain.studio_renders import render_key, segment_voice
from eventstore.base import AppendResult, ConcurrencyError, ExpectedVersion, RecordedEvent
from eventstore.db import read_transaction
from workflows.jobs import to_new_event
from workflows.studio import load_project

ATTEMPTS = 5


def container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def listed(engine: Engine, table: Table, stream: str) -> bool:
    """Whether the read model ``table`` (``studio_folders``, ``studio_projects``) has ``stream``."""
    with read_transaction(engine) as connection:
        return connection.execute(select(table.c.id).where(table.c.stream_id == stream)).first() is not None


def project_stream(project_id: str) -> str:
    return stream_id(CATEGORY, project_id)


def read_project(store_container: Container, project_id: str) -> tuple[Project, list[RecordedEvent]]:
    """The project and its events; ``NotFound`` for one that does not exist (or was deleted)."""
    project, recorded = load_project(store_container.store, project_id)
    if project is None:
        raise NotFound(f"No Studio project {project_id!r}.")
    return project, recorded


async def current_project(project_id: str) -> Project:
    """The request's project, read off the event loop (404 when there is none)."""
    return (await asyncio.to_thread(read_project, container(), project_id))[0]


def append(
    store_container: Container, stream: str, events: Sequence[DomainEvent], expected: ExpectedVersion
) -> AppendResult:
    category = stream.partition("-")[0]
    metadata = {"correlation_id": stream, **request_metadata()}
    return store_container.store.append(
        stream, [to_new_event(category, e, metadata=metadata) for e in events], expected
    )


def change(
    store_container: Container, project_id: str, decide: Callable[[Project], Sequence[DomainEvent]]
) -> Project:
    """Decide events on the project as it stands and append them at its version; the project after."""
    return change_on_history(store_container, project_id, lambda project, _recorded: decide(project))


def change_on_history(
    store_container: Container,
    project_id: str,
    decide: Callable[[Project, list[RecordedEvent]], Sequence[DomainEvent]],
) -> Project:
    """``change``, for a decision that reads the project's events too (a restore). The stream is
    read and folded once: the project after is the one read, evolved by what was appended."""
    for _ in range(ATTEMPTS):
        project, recorded = read_project(store_container, project_id)
        events = decide(project, recorded)
        if not events:
            return project
        try:
            result = append(store_container, project_stream(project_id), events, project.version)
        except ConcurrencyError:
            continue
        after = project
        for offset, event in enumerate(events, start=1):
            after = evolve(after, event.verb, event.payload(), project.version + offset, result.recorded_at)
        return after
    raise ConcurrencyError(project_stream(project_id), -1, -1)


# --- JSON -----------------------------------------------------------------------------------


def segment_json(project: Project, segment: Segment, index: int) -> dict[str, Any]:
    spoken = segment_voice(project.content, segment)
    audio = project.audio.get(render_key(spoken))
    return {
        "id": segment.id,
        "object": "studio.segment",
        "project_id": project.id,
        "index": index,
        "text": segment.text,
        "voice": segment.voice,
        "model": segment.model,
        "speed": segment.speed,
        "pause_after_ms": segment.pause_after_ms,
        "spoken_text": spoken.text,
        "rendered": audio is not None,
        "duration_secs": round(audio.sample_count / audio.sample_rate, 4) if audio else None,
        "audio_url": f"{BASE_URL}/projects/{project.id}/audio?segment_ids={segment.id}" if audio else None,
    }


def pronunciation_json(pronunciation: Pronunciation) -> dict[str, Any]:
    return {"object": "studio.pronunciation", **pronunciation.model_dump()}


def project_json(project: Project, *, full: bool = True) -> dict[str, Any]:
    content = project.content
    segments = [segment_json(project, segment, index) for index, segment in enumerate(content.segments)]
    shown: dict[str, Any] = {
        "id": project.id,
        "object": PROJECT_OBJECT,
        "name": content.name,
        "folder_id": content.folder_id,
        "model": content.model,
        "voice": content.voice,
        "speed": content.speed,
        "pause_after_ms": content.pause_after_ms,
        "meta": content.meta,
        "version": project.version,
        "segment_count": len(segments),
        "rendered_segment_count": sum(1 for segment in segments if segment["rendered"]),
        "created_at": int(project.created_at),
        "updated_at": int(project.updated_at),
        "audio_url": f"{BASE_URL}/projects/{project.id}/audio",
    }
    if full:
        shown["segments"] = segments
        shown["pronunciations"] = [pronunciation_json(p) for p in content.pronunciations]
    return shown


def project_row_json(row: dict[str, Any]) -> dict[str, Any]:
    """A project in a list (from the ``studio_projects`` read model)."""
    return {
        "id": row["id"],
        "object": PROJECT_OBJECT,
        "name": row["name"],
        "folder_id": row["folder_id"],
        "model": row["model"],
        "segment_count": row["segment_count"],
        "created_at": int(row["created_at"]),
        "updated_at": int(row["updated_at"]),
    }
