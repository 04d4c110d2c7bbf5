"""Studio schedules (``/v1/studio/schedules``, a first-party extension): each a
``studioschedule-<id>`` stream. A schedule renders a project (or every project of a folder) on a
cron expression or an interval and may store each run's audio at a media path; the web process's
ticker fires it (``app.maintenance.studio_schedules``). Lists and runs read the
``studio_schedules`` and ``studio_schedule_runs`` read models, which every append updates in its
own transaction, so a change is decided on the row and appended at the version it shows."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable
from typing import Any

from quart import Blueprint, jsonify, request
from sqlalchemy import Engine, select

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.pagination import newest_first_page
from app.http.request_body import receive_body, request_body
from app.projections.pages import newest_first
from app.projections.studio_schedules import schedule_of
from app.projections.tables import (
    studio_folders,
    studio_projects,
    studio_renders,
    studio_schedule_runs,
    studio_schedules,
)
from app.routes.media.library import MediaLibrary
from app.routes.studio.bodies import ScheduleBody, ScheduleFields
from app.routes.studio.exports import makeable
from app.routes.studio.projects import append, container, listed
from domain.events import DomainEvent, new_id, stream_id
from domain.fields import FieldError
from domain.media_objects import media_url
from domain.media_paths import media_path
from domain.studio import BASE_URL, FOLDER_CATEGORY
from domain.studio import CATEGORY as PROJECT_CATEGORY
from domain.studio_schedules import (
    CATEGORY,
    OBJECT,
    RUN_OBJECT,
    RunExported,
    RunTarget,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleSettings,
    changed,
    check_settings,
    run_status,
)
from eventstore.base import NO_STREAM, ConcurrencyError
from eventstore.db import read_transaction
from workflows.studio_schedules import check_trigger

blueprint = Blueprint("studio_schedules", __name__)
SCHEDULES = f"{BASE_URL}/schedules"
SCHEDULE = f"{SCHEDULES}/<schedule_id>"
ATTEMPTS = 5
NOT_NULL = ("name", "enabled", "coalesce", "timezone", "export_format")
PAIRS = {
    "project_id": "folder_id",
    "folder_id": "project_id",
    "cron": "interval_seconds",
    "interval_seconds": "cron",
}


def _engine() -> Engine:
    return container().engine


def _row(engine: Engine, schedule_id: str) -> dict[str, Any] | None:
    query = select(studio_schedules).where(studio_schedules.c.stream_id == stream_id(CATEGORY, schedule_id))
    with read_transaction(engine) as connection:
        row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else None


def _existing_row(engine: Engine, schedule_id: str) -> dict[str, Any]:
    row = _row(engine, schedule_id)
    if row is None:
        raise ApiError(404, f"No Studio schedule {schedule_id!r}.", param="schedule_id")
    return row


def _stamp(value: float | None) -> int | None:
    return int(value) if value is not None else None


def schedule_json(row: dict[str, Any]) -> dict[str, Any]:
    settings = ScheduleSettings.model_validate_json(row["settings"])
    export = (
        {
            "path": settings.export_path,
            "format": settings.export_format,
            "url": media_url(settings.export_path),
        }
        if settings.export_path is not None
        else None
    )
    return {
        "id": row["id"],
        "object": OBJECT,
        "name": settings.name,
        "project_id": settings.project_id,
        "folder_id": settings.folder_id,
        "cron": settings.cron,
        "interval_seconds": settings.interval_seconds,
        "timezone": settings.timezone,
        "enabled": settings.enabled,
        "coalesce": settings.coalesce,
        "export": export,
        "next_run_at": row["next_fire_at"],
        "last_run_at": row["last_run_at"],
        "run_count": row["run_count"],
        "version": row["version"],
        "created_at": int(row["created_at"]),
        "updated_at": int(row["updated_at"]),
        "runs_url": f"{SCHEDULES}/{row['id']}/runs",
    }


# --- what a schedule may say ------------------------------------------------------------------


def _check(store_container: Container, settings: ScheduleSettings) -> ScheduleSettings:
    """The whole schedule's rules, its trigger, its target and its export (FieldError naming the field)."""
    check_settings(settings)
    check_trigger(settings)
    engine = store_container.engine
    if settings.project_id is not None and not listed(
        engine, studio_projects, stream_id(PROJECT_CATEGORY, settings.project_id)
    ):
        raise ApiError(404, f"No Studio project {settings.project_id!r}.", param="project_id")
    if settings.folder_id is not None and not listed(
        engine, studio_folders, stream_id(FOLDER_CATEGORY, settings.folder_id)
    ):
        raise ApiError(404, f"No Studio folder {settings.folder_id!r}.", param="folder_id")
    makeable(settings.export_format, "export_format")
    if settings.export_path is not None:
        path = media_path(settings.export_path, "export_path")
        MediaLibrary(store_container.store, store_container.media).check_inside_root(path, "export_path")
        settings = settings.model_copy(update={"export_path": path})
    return settings


def _sent(received: Any, body: ScheduleFields) -> dict[str, Any]:
    sent = {name: getattr(body, name) for name in received.fields if name in ScheduleFields.model_fields}
    for name in NOT_NULL:
        if name in sent and sent[name] is None:
            raise FieldError(f"`{name}` cannot be null.", name)
    return sent


# --- routes -----------------------------------------------------------------------------------


@blueprint.get(SCHEDULES)
async def list_schedules() -> Any:
    """Schedules, newest first, with cursor pagination; `project_id` or `folder_id` keeps those
    that target it."""
    query = select(studio_schedules)
    for name in ("project_id", "folder_id"):
        if value := request.args.get(name):
            query = query.where(studio_schedules.c[name] == value)
    fetch = functools.partial(newest_first, _engine(), studio_schedules, query)
    return await newest_first_page(fetch, schedule_json)


@blueprint.post(SCHEDULES)
@request_body(ScheduleBody)
async def create_schedule() -> Any:
    """Create a schedule: `name`, `project_id` or `folder_id`, `cron` (with `timezone`) or
    `interval_seconds`, and optionally `export_path` and `export_format`. Its first run is at the
    next tick after now. Answers 201 with it."""
    received = await receive_body(ScheduleBody)
    sent = {name: value for name, value in _sent(received, received.parse()).items() if value is not None}
    if not sent.get("name"):
        raise FieldError("`name` is required: what to call the schedule.", "name")
    schedule_id = new_id()

    def create() -> dict[str, Any]:
        settings = _check(container(), ScheduleSettings(**sent))
        now = time.time()
        created = ScheduleCreated(
            schedule_id=schedule_id, anchor=now, fired_through=now, **settings.model_dump()
        )
        append(container(), stream_id(CATEGORY, schedule_id), [created], NO_STREAM)
        return _existing_row(container().engine, schedule_id)

    response = jsonify(schedule_json(await asyncio.to_thread(create)))
    response.status_code = 201
    response.headers["Location"] = f"{SCHEDULES}/{schedule_id}"
    return response


@blueprint.get(SCHEDULE)
async def get_schedule(schedule_id: str) -> Any:
    """The schedule, with its next run time."""
    return schedule_json(await asyncio.to_thread(_existing_row, _engine(), schedule_id))


def _decided(schedule_id: str, decide: Callable[[dict[str, Any]], DomainEvent | None]) -> dict[str, Any]:
    """Decide on the schedule as it stands and append at its version (a tick first: decide again)."""
    for _ in range(ATTEMPTS):
        row = _existing_row(container().engine, schedule_id)
        event = decide(row)
        if event is None:
            return row
        try:
            append(container(), row["stream_id"], [event], row["version"])
        except ConcurrencyError:
            continue
        return _row(container().engine, schedule_id) or {**row, "deleted": True}
    raise ConcurrencyError(stream_id(CATEGORY, schedule_id), -1, -1)


@blueprint.patch(SCHEDULE)
@request_body(ScheduleFields)
async def update_schedule(schedule_id: str) -> Any:
    """Change the fields sent: enable or disable it, retarget it, change its trigger (its ticks then
    start afresh from now) or its export (`export_path: null` stops exporting)."""
    received = await receive_body(ScheduleFields)
    sent = _sent(received, received.parse())
    for name, other in PAIRS.items():
        if sent.get(name) is not None and other not in sent:
            sent[other] = None  # naming a project replaces the folder, a cron the interval

    def decide(row: dict[str, Any]) -> DomainEvent | None:
        schedule = schedule_of(row)
        checked = _check(container(), schedule.settings.model_copy(update=sent))
        return changed(schedule, {name: getattr(checked, name) for name in sent}, time.time())

    return schedule_json(await asyncio.to_thread(_decided, schedule_id, decide))


@blueprint.delete(SCHEDULE)
async def delete_schedule(schedule_id: str) -> Any:
    """Delete the schedule: it runs no more (its render jobs and exports stay)."""
    await asyncio.to_thread(_decided, schedule_id, lambda row: ScheduleDeleted())
    return {"id": schedule_id, "object": OBJECT, "deleted": True}


# --- runs -------------------------------------------------------------------------------------


def _runs_page(engine: Engine, schedule_id: str, before: int | None, limit: int) -> Any:
    query = select(studio_schedule_runs).where(studio_schedule_runs.c.schedule_id == schedule_id)
    rows, more = newest_first(engine, studio_schedule_runs, query, before, limit)
    job_ids = [t["render_job_id"] for row in rows for t in json.loads(row["targets"]) if t["render_job_id"]]
    statuses: dict[str, str] = {}
    if job_ids:
        with read_transaction(engine) as connection:
            found = connection.execute(
                select(studio_renders.c.id, studio_renders.c.status).where(studio_renders.c.id.in_(job_ids))
            )
            statuses = {row.id: row.status for row in found}
    return [{**row, "render_statuses": statuses} for row in rows], more


def run_json(row: dict[str, Any]) -> dict[str, Any]:
    targets = [RunTarget.model_validate(t) for t in json.loads(row["targets"])]
    exports = {
        project_id: RunExported(run_id=row["run_id"], **export)
        for project_id, export in json.loads(row["exports"]).items()
    }
    statuses = row["render_statuses"]
    return {
        "id": row["run_id"],
        "object": RUN_OBJECT,
        "schedule_id": row["schedule_id"],
        "scheduled_for": row["fire_time"],
        "fired_at": row["fired_at"],
        "missed_ticks": row["missed"],
        "status": run_status(targets, statuses, exports),
        "render_jobs": [
            {
                "project_id": t.project_id,
                "job_id": t.render_job_id,
                "project_version": t.project_version,
                "status": statuses.get(t.render_job_id),
                "url": f"{BASE_URL}/projects/{t.project_id}/render-jobs",
            }
            for t in targets
            if t.render_job_id is not None
        ],
        "skipped": [{"project_id": t.project_id, "reason": t.skipped} for t in targets if t.skipped],
        "exports": [
            {
                "project_id": e.project_id,
                "path": e.path,
                "url": media_url(e.path) if e.error is None else None,
                "format": row["export_format"],
                "size_bytes": e.size_bytes,
                "error": e.error,
            }
            for e in exports.values()
        ],
    }


@blueprint.get(f"{SCHEDULE}/runs")
async def list_runs(schedule_id: str) -> Any:
    """The schedule's runs, newest first: each tick's render jobs (or why it rendered nothing) and exports."""
    await asyncio.to_thread(_existing_row, _engine(), schedule_id)
    fetch = functools.partial(_runs_page, _engine(), schedule_id)
    return await newest_first_page(fetch, run_json)
