"""Studio folders and projects (``/v1/studio``): a project is a ``studio-<id>`` stream, every edit
an event appended at the version it was decided on (docs/studio.md). Lists read the
``studio_folders`` and ``studio_projects`` read models; a project is folded from its stream."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from typing import Any

from quart import Blueprint, jsonify, request
from sqlalchemy import Engine, select

from app.http.errors import ApiError
from app.http.job_follow import JobFollower
from app.http.model_choice import resolve_model
from app.http.pagination import newest_first_page
from app.http.request_body import receive_body, request_body
from app.projections.pages import newest_first
from app.projections.tables import studio_folders, studio_projects
from app.routes.studio.bodies import (
    FolderBody,
    MetaBody,
    NewSegmentsBody,
    ProjectBody,
    ProjectSettingsBody,
    PronunciationBody,
    SegmentEditBody,
    SegmentIdsBody,
    SnapshotBody,
    SplitBody,
    meta_size_check,
)
from app.routes.studio.projects import (
    append,
    change,
    change_on_history,
    container,
    current_project,
    listed,
    project_json,
    project_row_json,
    pronunciation_json,
    read_project,
    segment_json,
)
from domain.capabilities import Capability
from domain.events import DomainEvent, new_id, stream_id
from domain.fields import FieldError
from domain.speech_checks import SPEECH_CHECK, SpeechCheckParams, VoiceToCheck
from domain.studio import (
    BASE_URL,
    CATEGORY,
    DEFAULT_PAUSE_MS,
    FOLDER_CATEGORY,
    FOLDER_OBJECT,
    FolderCreated,
    MetaChanged,
    Project,
    ProjectChanged,
    ProjectCreated,
    ProjectDeleted,
    ProjectRestored,
    Pronunciation,
    PronunciationAdded,
    PronunciationRemoved,
    Segment,
    SegmentEdited,
    SegmentsAdded,
    SnapshotTaken,
    check_room,
    check_segment_text,
    content_at,
    delete_segments,
    fold_input,
    insert_index,
    merge_next,
    reorder,
    segment_texts,
    split,
)
from domain.studio_renders import touches
from eventstore.base import NO_STREAM, RecordedEvent

blueprint = Blueprint("studio", __name__)
PROJECTS = f"{BASE_URL}/projects"
PROJECT = f"{PROJECTS}/<project_id>"
SEGMENT = f"{PROJECT}/segments/<segment_id>"


def _engine() -> Engine:
    return container().engine


async def _changed(project_id: str, decide: Any, status: int = 200) -> Any:
    project = await asyncio.to_thread(change, container(), project_id, decide)
    response = jsonify(project_json(project))
    response.status_code = status
    return response


async def _studio_model(requested: object, param: str = "model") -> str:
    variant = await resolve_model(
        container(),
        requested,
        Capability.STUDIO_PROJECTS,
        default_for="tts",
        what="Studio projects",
        param=param,
    )
    return variant.id


async def _check_voices(wanted: Iterable[tuple[str, str | None, str]]) -> None:
    """Refuse a voice its model cannot speak, before anything is recorded: a worker asks the engine
    (``domain.speech_checks``), and a refusal is a 400 naming the field. ``wanted`` holds
    ``(model, voice, field)``; no voice is the model's own and needs no check."""
    voices: dict[tuple[str, str], VoiceToCheck] = {}
    for model, voice, param in wanted:
        if voice is not None:
            voices.setdefault((model, voice), VoiceToCheck(model=model, voice=voice, param=param))
    if not voices:
        return
    follower = JobFollower.for_request()
    await follower.result(
        await follower.submit(SPEECH_CHECK, SpeechCheckParams(voices=tuple(voices.values())))
    )


async def _check_folder(folder_id: str | None) -> None:
    folder = stream_id(FOLDER_CATEGORY, folder_id) if folder_id is not None else None
    if folder is not None and not await asyncio.to_thread(listed, _engine(), studio_folders, folder):
        raise ApiError(400, f"No Studio folder {folder_id!r}: create it first.", param="folder_id")


def _folder_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": FOLDER_OBJECT,
        "name": row["name"],
        "created_at": int(row["created_at"]),
    }


# --- folders ----------------------------------------------------------------------------------


@blueprint.get(f"{BASE_URL}/folders")
async def list_folders() -> Any:
    """Folders, newest first, with cursor pagination."""
    fetch = functools.partial(newest_first, _engine(), studio_folders, select(studio_folders))
    return await newest_first_page(fetch, _folder_json)


@blueprint.post(f"{BASE_URL}/folders")
@request_body(FolderBody)
async def create_folder() -> Any:
    """Create a folder (`name`). Answers 201 with it."""
    body = (await receive_body(FolderBody)).parse()
    if not body.name:
        raise FieldError("`name` is required: what to call the folder.", "name")
    folder_id = new_id()
    folder = FolderCreated(folder_id=folder_id, name=body.name)
    await asyncio.to_thread(append, container(), stream_id(FOLDER_CATEGORY, folder_id), [folder], NO_STREAM)
    response = jsonify({"id": folder_id, "object": FOLDER_OBJECT, "name": body.name})
    response.status_code = 201
    return response


# --- projects ---------------------------------------------------------------------------------


def _projects_page(engine: Engine, folder_id: str | None, before: int | None, limit: int) -> Any:
    query = select(studio_projects)
    if folder_id is not None:
        query = query.where(studio_projects.c.folder_id == folder_id)
    return newest_first(engine, studio_projects, query, before, limit)


@blueprint.get(PROJECTS)
async def list_projects() -> Any:
    """Projects, newest first, with cursor pagination; `folder_id` keeps one folder's."""
    fetch = functools.partial(_projects_page, _engine(), request.args.get("folder_id") or None)
    return await newest_first_page(fetch, project_row_json)


def _segments_from(text: str | None, given: list[dict[str, Any]] | None) -> list[Segment]:
    if text is not None and given is not None:
        raise FieldError("Send `text` or `segments`, not both.", "segments")
    if given is not None:
        return [_segment_from(item, f"segments[{index}]") for index, item in enumerate(given)]
    return [Segment(id=new_id(), text=piece) for piece in segment_texts(text or "")]


def _segment_from(item: object, param: str) -> Segment:
    if not isinstance(item, dict):
        raise FieldError(f"`{param}` must be an object with `text`.", param)
    fields = SegmentEditBody.model_validate(item).model_dump(exclude_none=True)
    return Segment(
        id=new_id(), **{**fields, "text": check_segment_text(str(item.get("text") or ""), f"{param}.text")}
    )


@blueprint.post(PROJECTS)
@request_body(ProjectBody)
async def create_project() -> Any:
    """Create a project from `text` (or `segments`), with `name`, `model`, `voice`, `speed`,
    `pause_after_ms`, `folder_id` and `meta`. Answers 201 with the project and its segments."""
    body = (await receive_body(ProjectBody)).parse()
    if not body.name:
        raise FieldError("`name` is required: what to call the project.", "name")
    model = await _studio_model(body.model)
    await _check_folder(body.folder_id)
    segments = _segments_from(body.text, body.segments)
    for index, segment in enumerate(segments):
        if segment.model is not None:
            segments[index] = segment.model_copy(
                update={"model": await _studio_model(segment.model, f"segments[{index}].model")}
            )
    await _check_voices(
        [(model, body.voice, "voice")]
        + [(s.model or model, s.voice, f"segments[{i}].voice") for i, s in enumerate(segments)]
    )
    project_id = new_id()
    created = ProjectCreated(
        project_id=project_id,
        name=body.name,
        folder_id=body.folder_id,
        model=model,
        voice=body.voice,
        speed=body.speed if body.speed is not None else 1.0,
        pause_after_ms=body.pause_after_ms if body.pause_after_ms is not None else DEFAULT_PAUSE_MS,
        meta=meta_size_check(body.meta or {}),
        segments=tuple(segments),
    )
    check_room(Project(project_id, created), 0)
    await asyncio.to_thread(append, container(), stream_id(CATEGORY, project_id), [created], NO_STREAM)
    response = jsonify(project_json(await current_project(project_id)))
    response.status_code = 201
    response.headers["Location"] = f"{PROJECTS}/{project_id}"
    return response


@blueprint.get(PROJECT)
async def get_project(project_id: str) -> Any:
    """The project with its segments (each says whether its current audio is rendered) and
    pronunciations."""
    return project_json(await current_project(project_id))


@blueprint.patch(PROJECT)
@request_body(ProjectSettingsBody)
async def update_project(project_id: str) -> Any:
    """Change `name`, `folder_id`, `model`, `voice`, `speed` or `pause_after_ms`: only the fields sent."""
    received = await receive_body(ProjectSettingsBody)
    body = received.parse()
    changes = {
        name: getattr(body, name) for name in received.fields if name in ProjectSettingsBody.model_fields
    }
    if changes.get("name", "") is None or changes.get("name") == "":
        raise FieldError("`name` must not be empty.", "name")
    for required in ("model", "speed", "pause_after_ms"):
        if required in changes and changes[required] is None:
            raise FieldError(f"`{required}` cannot be null.", required)
    if "model" in changes:
        changes["model"] = await _studio_model(changes["model"])
    await _check_folder(changes.get("folder_id"))
    if "model" in changes or "voice" in changes:
        content = (await current_project(project_id)).content
        voice = changes.get("voice", content.voice)
        await _check_voices([(changes.get("model", content.model), voice, "voice")])
    return await _changed(project_id, lambda project: [ProjectChanged(changes=changes)] if changes else [])


@blueprint.delete(PROJECT)
async def delete_project(project_id: str) -> Any:
    """Delete the project (its rendered audio is released); its events stay for the audit."""

    def delete() -> None:
        project, _ = read_project(container(), project_id)
        append(container(), stream_id(CATEGORY, project_id), [ProjectDeleted()], project.version)

    await asyncio.to_thread(delete)
    return {"id": project_id, "object": "studio.project", "deleted": True}


@blueprint.get(f"{PROJECT}/meta")
async def get_meta(project_id: str) -> Any:
    """The project's own metadata."""
    project = await current_project(project_id)
    return {"project_id": project.id, "object": "studio.project_meta", "meta": project.content.meta}


@blueprint.patch(f"{PROJECT}/meta")
@request_body(MetaBody)
async def update_meta(project_id: str) -> Any:
    """Set metadata fields (`meta`: the fields given replace those of the same name; null removes one)."""
    body = (await receive_body(MetaBody)).parse()
    given = body.meta or {}

    def decide(project: Project) -> list[DomainEvent]:
        meta = {k: v for k, v in {**project.content.meta, **given}.items() if v is not None}
        return [MetaChanged(meta=meta_size_check(meta))] if meta != project.content.meta else []

    project = await asyncio.to_thread(change, container(), project_id, decide)
    return {"project_id": project.id, "object": "studio.project_meta", "meta": project.content.meta}


# --- segments ---------------------------------------------------------------------------------


@blueprint.post(f"{PROJECT}/segments")
@request_body(NewSegmentsBody)
async def add_segments(project_id: str) -> Any:
    """Add segments from `text` (split as a project's is) after `after_segment_id`, at `index`, or
    at the end, with optional `voice`, `model`, `speed`, `pause_after_ms`. Answers 201 with the project."""
    body = (await receive_body(NewSegmentsBody)).parse()
    settings = {
        name: value
        for name in ("voice", "model", "speed", "pause_after_ms")
        if (value := getattr(body, name)) is not None
    }
    if settings.get("model"):
        settings["model"] = await _studio_model(settings["model"])
    texts = segment_texts(body.text or "")
    if not texts:
        raise FieldError("`text` must not be empty.", "text")
    if body.voice is not None:
        project_model = (await current_project(project_id)).content.model
        await _check_voices([(settings.get("model") or project_model, body.voice, "voice")])

    def decide(project: Project) -> list[DomainEvent]:
        check_room(project, len(texts))
        index = insert_index(project, body.after_segment_id, body.index)
        added = tuple(Segment(id=new_id(), text=text, **settings) for text in texts)
        return [SegmentsAdded(index=index, segments=added)]

    return await _changed(project_id, decide, 201)


@blueprint.get(SEGMENT)
async def get_segment(project_id: str, segment_id: str) -> Any:
    """One segment."""
    project = await current_project(project_id)
    return segment_json(project, project.segment(segment_id), project.index_of(segment_id))


@blueprint.patch(SEGMENT)
@request_body(SegmentEditBody)
async def update_segment(project_id: str, segment_id: str) -> Any:
    """Edit `text`, `voice`, `model`, `speed` or `pause_after_ms`; only the fields sent change."""
    received = await receive_body(SegmentEditBody)
    body = received.parse()
    changes = {name: getattr(body, name) for name in received.fields if name in SegmentEditBody.model_fields}
    if "text" in changes:
        changes["text"] = check_segment_text(changes["text"] or "")
    if changes.get("model"):
        changes["model"] = await _studio_model(changes["model"])
    if changes.get("voice") is not None or changes.get("model"):
        project = await current_project(project_id)
        segment = project.segment(segment_id)
        model = changes.get("model", segment.model) or project.content.model
        voice = changes.get("voice", segment.voice) or project.content.voice
        await _check_voices([(model, voice, "voice")])

    def decide(project: Project) -> list[DomainEvent]:
        segment = project.segment(segment_id)
        if all(getattr(segment, name) == value for name, value in changes.items()):
            return []
        return [SegmentEdited(segment_id=segment_id, changes=changes)]

    project = await asyncio.to_thread(change, container(), project_id, decide)
    return segment_json(project, project.segment(segment_id), project.index_of(segment_id))


@blueprint.delete(SEGMENT)
async def delete_segment(project_id: str, segment_id: str) -> Any:
    """Delete one segment."""
    await asyncio.to_thread(change, container(), project_id, lambda p: [delete_segments(p, [segment_id])])
    return {"id": segment_id, "object": "studio.segment", "deleted": True}


@blueprint.post(f"{SEGMENT}/split")
@request_body(SplitBody)
async def split_segment(project_id: str, segment_id: str) -> Any:
    """Split a segment in two at character `offset`; the second part becomes a new segment after it."""
    body = (await receive_body(SplitBody)).parse()
    if body.offset is None:
        raise FieldError("`offset` is required: a character offset inside the segment's text.", "offset")
    offset = body.offset
    return await _changed(project_id, lambda project: [split(project, segment_id, offset, new_id())])


@blueprint.post(f"{SEGMENT}/merge-next")
async def merge_segment(project_id: str, segment_id: str) -> Any:
    """Merge the segment with the one after it (the first keeps its id and settings)."""
    return await _changed(project_id, lambda project: [merge_next(project, segment_id)])


@blueprint.patch(f"{PROJECT}/segments/reorder")
@request_body(SegmentIdsBody)
async def reorder_segments(project_id: str) -> Any:
    """Put the segments in the order of `segment_ids` (every segment, once)."""
    ids = _segment_ids((await receive_body(SegmentIdsBody)).parse().segment_ids)
    return await _changed(project_id, lambda project: [reorder(project, ids)])


@blueprint.post(f"{PROJECT}/segments/bulk-delete")
@request_body(SegmentIdsBody)
async def bulk_delete_segments(project_id: str) -> Any:
    """Delete the segments of `segment_ids`."""
    ids = _segment_ids((await receive_body(SegmentIdsBody)).parse().segment_ids)
    return await _changed(project_id, lambda project: [delete_segments(project, ids)])


def _segment_ids(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise FieldError("`segment_ids` must be a list of segment ids.", "segment_ids")
    return list(value)


# --- pronunciations -----------------------------------------------------------------------------


@blueprint.get(f"{PROJECT}/pronunciations")
async def list_pronunciations(project_id: str) -> Any:
    """The project's pronunciations, in the order they apply."""
    project = await current_project(project_id)
    return {"object": "list", "data": [pronunciation_json(p) for p in project.content.pronunciations]}


@blueprint.post(f"{PROJECT}/pronunciations")
@request_body(PronunciationBody)
async def add_pronunciation(project_id: str) -> Any:
    """Say `replacement` wherever `term` is written (`whole_word` default true, `case_sensitive`
    default false). The segments it touches need rendering again. Answers 201 with it and the
    ids of the segments it touches."""
    body = (await receive_body(PronunciationBody)).parse()
    if not body.term:
        raise FieldError("`term` is required: the word or phrase as written.", "term")
    if not body.replacement:
        raise FieldError("`replacement` is required: what to say instead.", "replacement")
    pronunciation = Pronunciation(
        id=new_id(),
        term=body.term,
        replacement=body.replacement,
        whole_word=body.whole_word if body.whole_word is not None else True,
        case_sensitive=bool(body.case_sensitive),
    )
    project = await asyncio.to_thread(
        change, container(), project_id, lambda project: [PronunciationAdded(pronunciation=pronunciation)]
    )
    touched = [s.id for s in project.segments if touches(pronunciation, s.text)]
    response = jsonify({**pronunciation_json(pronunciation), "segment_ids": touched})
    response.status_code = 201
    return response


@blueprint.delete(f"{PROJECT}/pronunciations/<pronunciation_id>")
async def delete_pronunciation(project_id: str, pronunciation_id: str) -> Any:
    """Remove a pronunciation."""

    def decide(project: Project) -> list[DomainEvent]:
        project.pronunciation(pronunciation_id)
        return [PronunciationRemoved(pronunciation_id=pronunciation_id)]

    await asyncio.to_thread(change, container(), project_id, decide)
    return {"id": pronunciation_id, "object": "studio.pronunciation", "deleted": True}


# --- snapshots ----------------------------------------------------------------------------------


def _snapshot_json(project: Project, snapshot: Any) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "object": "studio.snapshot",
        "project_id": project.id,
        "name": snapshot.name,
        "project_version": snapshot.project_version,
        "created_at": int(snapshot.created_at),
    }


@blueprint.get(f"{PROJECT}/snapshots")
async def list_snapshots(project_id: str) -> Any:
    """The project's snapshots, oldest first."""
    project = await current_project(project_id)
    return {"object": "list", "data": [_snapshot_json(project, s) for s in project.snapshots]}


@blueprint.post(f"{PROJECT}/snapshots")
@request_body(SnapshotBody)
async def take_snapshot(project_id: str) -> Any:
    """Name the project as it is now (`name`, optional). Answers 201 with the snapshot."""
    body = (await receive_body(SnapshotBody)).parse()
    snapshot_id = new_id()

    def decide(project: Project) -> list[DomainEvent]:
        name = body.name or f"Snapshot {len(project.snapshots) + 1}"
        return [SnapshotTaken(snapshot_id=snapshot_id, name=name, project_version=project.version)]

    project = await asyncio.to_thread(change, container(), project_id, decide)
    response = jsonify(_snapshot_json(project, project.snapshot(snapshot_id)))
    response.status_code = 201
    return response


def _restore(project_id: str, snapshot_id: str) -> Project:
    def decide(project: Project, recorded: list[RecordedEvent]) -> list[DomainEvent]:
        snapshot = project.snapshot(snapshot_id)
        content = content_at(fold_input(recorded), snapshot.project_version)
        return [ProjectRestored(snapshot_id=snapshot_id, content=content)]

    return change_on_history(container(), project_id, decide)


@blueprint.post(f"{PROJECT}/snapshots/<snapshot_id>/restore")
async def restore_snapshot(project_id: str, snapshot_id: str) -> Any:
    """Bring the project back to the snapshot: appended as a new event (history is kept), so the
    audio rendered for that content is found again."""
    project = await asyncio.to_thread(_restore, project_id, snapshot_id)
    return project_json(project)
