"""Studio read models (docs/studio.md): ``studio_folders`` and ``studio_projects`` (one row per
folder and project stream, for the lists) and ``studio_renders`` (one row per render job).

A project's segments, pronunciations, snapshots and audio are not kept here: its routes fold them
from its stream, the one place they are written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, select, update

from app.projections.pages import listing_columns
from app.projections.records import Creator, RecordProjection, Row
from app.projections.tables import studio_folders, studio_projects, studio_renders
from domain.jobs import JobCompleted, JobFailed, JobProgressed, JobRequested, lifecycle_event
from domain.studio import (
    CATEGORY,
    FOLDER_CATEGORY,
    FolderCreated,
    ProjectChanged,
    ProjectCreated,
    ProjectDeleted,
    ProjectRestored,
    SegmentMerged,
    SegmentsAdded,
    SegmentsDeleted,
    SegmentSplit,
)
from domain.studio_renders import STUDIO_RENDER, RenderParams, RenderPriorityChanged
from eventstore.base import RecordedEvent, dumps
from eventstore.db import read_transaction


class StudioFoldersProjection:
    name = "studio_folders"

    @property
    def tables(self) -> Sequence[Table]:
        return [studio_folders]

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if event.category == FOLDER_CATEGORY and event.type.endswith(f".{FolderCreated.verb}"):
            created = FolderCreated.model_validate(event.data)
            connection.execute(
                insert(studio_folders).values(
                    id=created.folder_id, name=created.name, **listing_columns(event)
                )
            )


def _segment_delta(verb: str, data: Mapping[str, Any]) -> int | None:
    """How an event changes the segment count (None: it does not)."""
    if verb == SegmentsAdded.verb:
        return len(data["segments"])
    if verb == SegmentSplit.verb:
        return 1
    if verb == SegmentMerged.verb:
        return -1
    if verb == SegmentsDeleted.verb:
        return -len(data["segment_ids"])
    return None


class StudioProjectsProjection:
    name = "studio_projects"

    @property
    def tables(self) -> Sequence[Table]:
        return [studio_projects]

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if event.category != CATEGORY:
            return
        verb = event.type.partition(".")[2]
        table = studio_projects
        if verb == ProjectCreated.verb:
            created = ProjectCreated.model_validate(event.data)
            values = {
                "id": created.project_id,
                "name": created.name,
                "folder_id": created.folder_id,
                "model": created.model,
                "segment_count": len(created.segments),
            }
            connection.execute(insert(table).values(**values, **listing_columns(event)))
            return
        this = table.c.stream_id == event.stream_id
        if verb == ProjectDeleted.verb:
            connection.execute(delete(table).where(this))
            return
        changes: dict[str, Any] = {"updated_at": event.recorded_at, "last_position": event.position}
        delta = _segment_delta(verb, event.data)
        if delta is not None:
            changes["segment_count"] = table.c.segment_count + delta
        elif verb == ProjectChanged.verb:
            shown = {"name", "folder_id", "model"}
            changes.update({k: v for k, v in event.data["changes"].items() if k in shown})
        elif verb == ProjectRestored.verb:
            content = event.data["content"]
            changes.update(
                name=content["name"],
                folder_id=content.get("folder_id"),
                model=content["model"],
                segment_count=len(content.get("segments", ())),
            )
        elif not _changes_content(verb):
            return
        connection.execute(update(table).where(this).values(**changes))


def _changes_content(verb: str) -> bool:
    """Whether the project's ``updated_at`` moves: rendered audio and snapshots do not edit it."""
    return verb not in {"segment_audio_rendered", "snapshot_taken"}


class StudioRendersProjection(RecordProjection):
    name = "studio_renders"
    table = studio_renders
    kinds = (STUDIO_RENDER,)
    deleted_verb = "deleted"

    @property
    def creators(self) -> Mapping[str, Creator]:
        return {JobRequested.verb: _requested}

    def changes(self, connection: Connection, row: Row, verb: str, event: RecordedEvent) -> dict[str, Any]:
        if verb == RenderPriorityChanged.verb:
            return {"priority": RenderPriorityChanged.model_validate(event.data).priority}
        lifecycle = lifecycle_event(event.type, event.data)
        changes: dict[str, Any] = {}
        match lifecycle:
            case JobProgressed(percent=percent):
                changes["progress"] = percent
            case JobCompleted(result=result):
                changes.update(progress=100.0, result=dumps(result), error=None)
            case JobFailed(error=error):
                changes["error"] = error
        return {**changes, **self.status_after(event.category, lifecycle)}


def _requested(connection: Connection, event: RecordedEvent) -> None:
    requested = JobRequested.model_validate(event.data)
    params = RenderParams.model_validate(requested.params)
    fresh = {
        "status": STUDIO_RENDER.record_status("requested"),
        "progress": 0.0,
        "result": None,
        "error": None,
        "updated_at": event.recorded_at,
        "last_position": event.position,
    }
    if requested.run > 1:
        connection.execute(
            update(studio_renders).where(studio_renders.c.stream_id == event.stream_id).values(**fresh)
        )
        return
    exists = select(studio_renders.c.stream_id).where(studio_renders.c.stream_id == event.stream_id)
    if connection.execute(exists).first() is not None:
        return
    segment_ids = json.dumps(list(params.segment_ids)) if params.segment_ids is not None else None
    values = {
        **listing_columns(event),
        **fresh,
        "id": requested.job_id,
        "project_id": params.project_id,
        "project_version": params.project_version,
        "segment_ids": segment_ids,
        "priority": params.priority,
    }
    connection.execute(insert(studio_renders).values(**values))


class StudioRenderQueue:
    """``workflows.studio.RenderQueue`` on the ``studio_renders`` read model."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def outranked_by(self, job_id: str) -> str | None:
        mine = select(studio_renders.c.priority).where(studio_renders.c.id == job_id).scalar_subquery()
        query = (
            select(studio_renders.c.id)
            .where(
                studio_renders.c.status == STUDIO_RENDER.record_status("queued"),
                studio_renders.c.priority > mine,
            )
            .order_by(studio_renders.c.priority.desc(), studio_renders.c.created_position)
            .limit(1)
        )
        with read_transaction(self.engine) as connection:
            found = connection.execute(query).scalar()
        return str(found) if found is not None else None
