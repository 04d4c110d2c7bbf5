"""Studio render jobs and exports: ``…/render-jobs`` (each a ``render-<id>`` job stream, listed
from the ``studio_renders`` read model), ``…/segments/{id}/render`` and ``…/audio``, streamed
from the media store a segment at a time (a project of an hour is never held in memory)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Generator
from typing import Any

from quart import Blueprint, Response, jsonify, request
from sqlalchemy import Engine, select

from app.http.errors import ApiError
from app.http.job_follow import JobFollower
from app.http.request_body import receive_body, request_body
from app.projections.tables import studio_renders
from app.routes.studio.bodies import RenderBody, RenderChangeBody
from app.routes.studio.exports import (
    export_blocks,
    export_content_type,
    export_extension,
    export_size,
    makeable,
)
from app.routes.studio.projects import container, current_project
from domain.fields import FieldError, choice
from domain.studio import BASE_URL, Project
from domain.studio_renders import (
    EXPORT_FORMATS,
    STALE,
    STUDIO_RENDER,
    ExportLayout,
    MixedSampleRates,
    NotRendered,
    RenderParams,
    RenderPriorityChanged,
    export_layout,
    selected,
)
from eventstore.db import read_transaction
from workflows.jobs import to_new_event

blueprint = Blueprint("studio_renders", __name__)
PROJECT = f"{BASE_URL}/projects/<project_id>"


def _render_json(row: dict[str, Any], project: Project) -> dict[str, Any]:
    status = row["status"]
    if status == "completed" and project.content_version > row["project_version"]:
        status = STALE
    return {
        "id": row["id"],
        "object": "studio.render_job",
        "project_id": row["project_id"],
        "project_version": row["project_version"],
        "segment_ids": json.loads(row["segment_ids"]) if row["segment_ids"] else None,
        "status": status,
        "priority": row["priority"],
        "progress": row["progress"],
        "result": json.loads(row["result"]) if row["result"] else None,
        "error": row["error"],
        "created_at": int(row["created_at"]),
        "updated_at": int(row["updated_at"]),
        "events_url": f"/v1/streams/{STUDIO_RENDER.stream_id(row['id'])}/events",
    }


def _renders(engine: Engine, project_id: str, job_id: str | None = None) -> list[dict[str, Any]]:
    query = select(studio_renders).where(studio_renders.c.project_id == project_id)
    if job_id is not None:
        query = query.where(studio_renders.c.id == job_id)
    query = query.order_by(studio_renders.c.created_position.desc()).limit(500)
    with read_transaction(engine) as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


async def _render_row(project_id: str, job_id: str) -> dict[str, Any]:
    rows = await asyncio.to_thread(_renders, container().engine, project_id, job_id)
    if not rows:
        raise ApiError(404, f"Project {project_id!r} has no render job {job_id!r}.", param="job_id")
    return rows[0]


async def _submit(project: Project, segment_ids: list[str] | None, priority: int = 0) -> Any:
    if segment_ids is not None:
        selected(project, segment_ids)  # unknown ids: 404 before anything is recorded
    params = RenderParams(
        project_id=project.id,
        project_version=project.version,
        model=project.content.model,
        segment_ids=tuple(segment_ids) if segment_ids is not None else None,
        priority=priority,
    )
    job_id = await JobFollower.for_request().submit(STUDIO_RENDER, params)
    row = await _render_row(project.id, job_id.partition("-")[2])
    response = jsonify(_render_json(row, project))
    response.status_code = 202
    return response


@blueprint.get(f"{PROJECT}/render-jobs")
async def list_render_jobs(project_id: str) -> Any:
    """The project's render jobs, newest first (a completed one whose project changed since is `stale`)."""
    project = await current_project(project_id)
    rows = await asyncio.to_thread(_renders, container().engine, project_id)
    return {"object": "list", "data": [_render_json(row, project) for row in rows]}


@blueprint.post(f"{PROJECT}/render-jobs")
@request_body(RenderBody)
async def create_render_job(project_id: str) -> Any:
    """Render the project (or `segment_ids`): only segments whose audio does not exist yet are
    synthesized. Answers 202 with the queued job; follow `events_url` for per-segment progress."""
    body = (await receive_body(RenderBody)).parse()
    ids = body.segment_ids
    if ids is not None and (not isinstance(ids, list) or not ids):
        raise FieldError("`segment_ids` must be a non-empty list of segment ids.", "segment_ids")
    return await _submit(await current_project(project_id), ids, body.priority or 0)


@blueprint.post(f"{PROJECT}/segments/<segment_id>/render")
async def render_segment(project_id: str, segment_id: str) -> Any:
    """Render one segment (a render job of that segment alone). Answers 202 with the job."""
    project = await current_project(project_id)
    project.segment(segment_id)
    return await _submit(project, [segment_id])


@blueprint.patch(f"{PROJECT}/render-jobs/<job_id>")
@request_body(RenderChangeBody)
async def update_render_job(project_id: str, job_id: str) -> Any:
    """Cancel the job (`status: "cancelled"` or `action: "cancel"`): it stops between segments,
    keeping every segment rendered so far. Or change its `priority` while it waits or runs."""
    project = await current_project(project_id)
    row = await _render_row(project_id, job_id)
    body = (await receive_body(RenderChangeBody)).parse()
    cancel = body.status == "cancelled" or body.action == "cancel"
    if not cancel and body.priority is None:
        raise FieldError(
            'Send `status: "cancelled"` (or `action: "cancel"`) to cancel the job, or a `priority`.', "status"
        )
    if body.priority is not None and body.priority != row["priority"]:
        if row["status"] not in ("queued", "running"):
            raise ApiError(409, f"Render job {job_id!r} is {row['status']}: its priority no longer matters.")
        stream = STUDIO_RENDER.stream_id(job_id)
        event = to_new_event(STUDIO_RENDER.category, RenderPriorityChanged(priority=body.priority))
        await asyncio.to_thread(container().store.append, stream, [event])
    if cancel:
        JobFollower.for_request().cancel(STUDIO_RENDER.stream_id(job_id), "cancelled through the API")
    return _render_json(await _render_row(project_id, job_id), project)


# --- export -------------------------------------------------------------------------------------


def _layout(project: Project) -> ExportLayout:
    raw = request.args.get("segment_ids")
    ids = [part for part in raw.split(",") if part] if raw else None
    if not project.segments:
        raise ApiError(409, f"Project {project.id!r} has no segments: there is nothing to export.")
    try:
        return export_layout(project, selected(project, ids))
    except NotRendered as error:
        raise ApiError(409, str(error), param="segment_ids" if ids else None) from error
    except MixedSampleRates as error:
        raise ApiError(400, str(error), param="segment_ids") from error


async def _in_thread(blocks: Generator[bytes, None, None]) -> AsyncIterator[bytes]:
    """The blocks, each made off the event loop (file reads, FFmpeg); FFmpeg is stopped when the
    client goes away."""
    try:
        while (block := await asyncio.to_thread(next, blocks, None)) is not None:
            yield block
    finally:
        await asyncio.to_thread(blocks.close)


@blueprint.get(f"{PROJECT}/audio")
async def export_audio(project_id: str) -> Any:
    """The project's audio (`format`: wav, raw_i16, raw_f32, mp3, opus, flac), every segment or
    `segment_ids=a,b` in that order, with each segment's pause after it; `download=true` asks for
    an attachment. 409 while a segment's current audio is not rendered."""
    fmt = makeable(choice(request.args, "format", EXPORT_FORMATS, "wav"), "format")
    project = await current_project(project_id)
    layout = _layout(project)
    media = container().media
    missing = await asyncio.to_thread(
        lambda: [p.segment_id for p in layout.parts if not media.exists(p.audio.media)]
    )
    if missing:
        raise ApiError(409, f"The audio of segments {missing[:5]} is no longer stored: render them again.")
    response = Response(_in_thread(export_blocks(media, layout, fmt)), mimetype=export_content_type(fmt))
    response.headers["X-Sample-Rate"] = str(layout.sample_rate)
    response.headers["X-Audio-Duration-Secs"] = f"{layout.duration_secs:.4f}"
    size = export_size(layout, fmt)
    if size is not None:
        response.headers["Content-Length"] = str(size)
    if request.args.get("download", "").lower() in ("true", "1", "yes"):
        filename = f"{project.content.name}.{export_extension(fmt)}"
        response.headers.set("Content-Disposition", "attachment", filename=filename)
    return response


@blueprint.get(f"{PROJECT}/audio/timeline")
async def export_timeline(project_id: str) -> Any:
    """The export's sidecar: each segment's start and end (seconds) in `…/audio` with the same
    `segment_ids`, usable as chapter marks."""
    project = await current_project(project_id)
    layout = _layout(project)
    return {
        "object": "studio.audio_timeline",
        "project_id": project.id,
        "sample_rate": layout.sample_rate,
        "duration_secs": round(layout.duration_secs, 4),
        "segments": layout.timeline(),
    }
