"""The web process's Studio schedule ticker (docs/studio.md): every poll, fire the ticks of the
schedules that are due and store the exports of runs whose renders finished.

Several web processes may poll at once (Postgres): a tick is recorded at the schedule's version
(``workflows.studio_schedules.TickRecorder``), so only one of them fires it; an export is
recorded once (its event id derives from the run and the project), though two processes may both
have encoded it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from app.bootstrap import Container
from app.projections.studio_schedules import schedule_of
from app.projections.tables import studio_projects, studio_renders, studio_schedule_runs, studio_schedules
from app.routes.media.library import MediaLibrary
from app.routes.media.requests import MediaUpload
from app.routes.studio.exports import export_blocks, export_content_type
from domain.events import stream_id
from domain.fields import FieldError
from domain.media_paths import media_path
from domain.studio import content_at, fold_input
from domain.studio_renders import NotRendered, export_layout, selected
from domain.studio_schedules import (
    CATEGORY,
    RENDER_FAILED,
    RENDER_SETTLED_OK,
    LastRender,
    RunExported,
    RunTarget,
    ScheduleSettings,
    TargetProject,
)
from eventstore.db import read_transaction
from workers.engines.audio import AudioEncodeError
from workflows.studio import load_project
from workflows.studio_schedules import TickRecorder

log = logging.getLogger(__name__)

EXPORT_META = {"actor": "studio_schedule"}


def _render_statuses(container: Container, job_ids: Sequence[str]) -> dict[str, str]:
    if not job_ids:
        return {}
    query = select(studio_renders.c.id, studio_renders.c.status).where(studio_renders.c.id.in_(job_ids))
    with read_transaction(container.engine) as connection:
        return {row.id: row.status for row in connection.execute(query)}


def _last_renders(container: Container, row: Mapping[str, Any]) -> dict[str, LastRender]:
    last = json.loads(row["last_renders"])
    statuses = _render_statuses(container, [entry["render_job_id"] for entry in last.values()])
    return {
        project_id: LastRender(entry["project_version"], statuses.get(entry["render_job_id"]))
        for project_id, entry in last.items()
    }


def _target_ids(container: Container, settings: ScheduleSettings) -> list[str]:
    if settings.project_id is not None:
        return [settings.project_id]
    query = (
        select(studio_projects.c.id)
        .where(studio_projects.c.folder_id == settings.folder_id)
        .order_by(studio_projects.c.created_position)
    )
    with read_transaction(container.engine) as connection:
        return [row.id for row in connection.execute(query)]


def target_projects(container: Container, settings: ScheduleSettings) -> list[TargetProject]:
    found: list[TargetProject] = []
    for project_id in _target_ids(container, settings):
        project, _ = load_project(container.store, project_id)
        if project is None:
            found.append(TargetProject(project_id, None))
            continue
        found.append(
            TargetProject(
                project_id,
                project.content_version,
                project.version,
                len(project.segments),
                project.content.model,
            )
        )
    return found


def fire_due(container: Container, now: float) -> int:
    """Fire every due tick; the number of runs recorded."""
    query = select(studio_schedules).where(
        studio_schedules.c.enabled.is_(True), studio_schedules.c.next_fire_at <= now
    )
    with read_transaction(container.engine) as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    recorder = TickRecorder(container.store, container.jobs)
    fired = 0
    for row in rows:
        schedule = schedule_of(row)
        try:
            last = _last_renders(container, row)
            projects = functools.partial(target_projects, container, schedule.settings)
            fired += len(recorder.fire(schedule, now, projects, last))
        except Exception:  # one schedule's trouble holds no other back; the next poll tries again
            log.exception("firing %s failed", schedule.stream_id)
    return fired


def _export_one(container: Container, run_id: str, target: RunTarget, fmt: str) -> RunExported | None:
    """Store the project's audio, as the run rendered it, at the target's media path, a block at a
    time (None: a deletion took the same bytes meanwhile; the next poll exports again)."""
    path = target.export_path or ""
    failed = functools.partial(RunExported, run_id=run_id, project_id=target.project_id, path=path)
    project, recorded = load_project(container.store, target.project_id)
    if project is None:
        return failed(error="the project was deleted before its export")
    content = content_at(fold_input(recorded), _render_version(container, target))
    rendered = dataclasses.replace(project, content=content)
    try:
        layout = export_layout(rendered, selected(rendered, None))
        checked = media_path(path, "export_path")
        library = MediaLibrary(container.store, container.media)
        library.check_inside_root(checked, "export_path")
    except (NotRendered, FieldError) as error:
        return failed(error=str(error))
    namespace, _, filename = checked.rpartition("/")
    upload = MediaUpload(checked, namespace or None, filename, export_content_type(fmt), b"")
    try:
        row = library.upload_chunks(upload, export_blocks(container.media, layout, fmt), EXPORT_META)
    except AudioEncodeError as error:  # this FFmpeg cannot make the format: it never will
        return failed(error=str(error))
    if row is None:
        return None
    return RunExported(
        run_id=run_id, project_id=target.project_id, path=checked, size_bytes=row["size_bytes"]
    )


def _render_version(container: Container, target: RunTarget) -> int:
    query = select(studio_renders.c.project_version).where(studio_renders.c.id == target.render_job_id)
    with read_transaction(container.engine) as connection:
        version = connection.execute(query).scalar()
    return int(version) if version is not None else 0


def export_finished(container: Container) -> int:
    """Store the exports of runs whose renders finished (a failed render records why there is none)."""
    query = select(studio_schedule_runs).where(studio_schedule_runs.c.pending_exports > 0)
    with read_transaction(container.engine) as connection:
        runs = [dict(row) for row in connection.execute(query).mappings()]
    recorder = TickRecorder(container.store, container.jobs)
    stored = 0
    for run in runs:
        done = json.loads(run["exports"])
        targets = [RunTarget.model_validate(t) for t in json.loads(run["targets"])]
        waiting = [t for t in targets if t.render_job_id and t.export_path and t.project_id not in done]
        statuses = _render_statuses(container, [t.render_job_id or "" for t in waiting])
        for target in waiting:
            status = statuses.get(target.render_job_id or "")
            if status in RENDER_SETTLED_OK:
                try:
                    exported = _export_one(container, run["run_id"], target, run["export_format"] or "wav")
                except Exception:  # a full disk, a vanished file: the next poll tries again
                    log.exception("exporting run %s of %s failed", run["run_id"], target.project_id)
                    continue
            elif status in RENDER_FAILED:
                exported = RunExported(
                    run_id=run["run_id"],
                    project_id=target.project_id,
                    path=target.export_path or "",
                    error=f"the render job {target.render_job_id} {status}: nothing to export",
                )
            else:
                continue
            if exported is None:
                continue
            recorder.record_export(stream_id(CATEGORY, run["schedule_id"]), exported)
            stored += 1
    return stored


def tick_schedules(container: Container, now: float | None = None) -> None:
    """One poll: fire what is due, then store finished exports. Failures are logged; the next poll
    tries again."""
    try:
        fire_due(container, time.time() if now is None else now)
    except Exception:
        log.exception("firing Studio schedules failed")
    try:
        export_finished(container)
    except Exception:
        log.exception("exporting Studio schedule runs failed")
