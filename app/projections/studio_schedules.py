"""Studio schedule read models (docs/studio.md): ``studio_schedules``, one row per schedule with
what its ticker needs (the stream version, the ticks done, the next one due, the last render of
each target project), and ``studio_schedule_runs``, one row per run with its exports.

The next fire time is computed here from the schedule's trigger, so it is always the one the
stream's events imply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from app.projections.tables import studio_schedule_runs, studio_schedules
from domain.fields import FieldError
from domain.studio_schedules import (
    CATEGORY,
    RunExported,
    Schedule,
    ScheduleChanged,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleSettings,
    TickFired,
)
from eventstore.base import RecordedEvent
from workflows.studio_schedules import next_fire_time


def _next(settings: ScheduleSettings, anchor: float, fired_through: float) -> float | None:
    if not settings.enabled:
        return None
    try:
        return next_fire_time(settings, anchor, fired_through)
    except FieldError:  # a time zone this machine no longer knows: shown, never fired
        return None


def schedule_of(row: Mapping[str, Any]) -> Schedule:
    return Schedule(
        id=row["id"],
        settings=ScheduleSettings.model_validate_json(row["settings"]),
        anchor=row["anchor"],
        fired_through=row["fired_through"],
        version=row["version"],
    )


class StudioSchedulesProjection:
    name = "studio_schedules"

    @property
    def tables(self) -> Sequence[Table]:
        return [studio_schedules, studio_schedule_runs]

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if event.category != CATEGORY:
            return
        verb = event.type.partition(".")[2]
        if verb == ScheduleCreated.verb:
            self._created(connection, event)
            return
        this = studio_schedules.c.stream_id == event.stream_id
        row = connection.execute(select(studio_schedules).where(this)).mappings().first()
        if row is None:
            return
        if verb == ScheduleDeleted.verb:
            connection.execute(delete(studio_schedules).where(this))
            connection.execute(
                delete(studio_schedule_runs).where(studio_schedule_runs.c.schedule_id == row["id"])
            )
            return
        changes: dict[str, Any] = {"version": event.version, "last_position": event.position}
        if verb == ScheduleChanged.verb:
            changes.update(
                self._changed(row, ScheduleChanged.model_validate(event.data)), updated_at=event.recorded_at
            )
        elif verb == TickFired.verb:
            changes.update(self._tick(connection, row, event))
        elif verb == RunExported.verb:
            self._exported(connection, RunExported.model_validate(event.data))
        connection.execute(update(studio_schedules).where(this).values(**changes))

    def _created(self, connection: Connection, event: RecordedEvent) -> None:
        created = ScheduleCreated.model_validate(event.data)
        settings = ScheduleSettings.model_validate(
            created.model_dump(include=set(ScheduleSettings.model_fields))
        )
        values = {
            "stream_id": event.stream_id,
            "id": created.schedule_id,
            "name": settings.name,
            "project_id": settings.project_id,
            "folder_id": settings.folder_id,
            "settings": settings.model_dump_json(),
            "enabled": settings.enabled,
            "anchor": created.anchor,
            "fired_through": created.fired_through,
            "next_fire_at": _next(settings, created.anchor, created.fired_through),
            "version": event.version,
            "last_renders": "{}",
            "run_count": 0,
            "last_run_at": None,
            "created_at": event.recorded_at,
            "updated_at": event.recorded_at,
            "created_position": event.position,
            "last_position": event.position,
        }
        connection.execute(insert(studio_schedules).values(**values))

    def _changed(self, row: Any, change: ScheduleChanged) -> dict[str, Any]:
        settings = ScheduleSettings.model_validate_json(row["settings"]).model_copy(update=change.changes)
        anchor = change.anchor if change.anchor is not None else row["anchor"]
        fired = change.fired_through if change.fired_through is not None else row["fired_through"]
        return {
            "name": settings.name,
            "project_id": settings.project_id,
            "folder_id": settings.folder_id,
            "settings": settings.model_dump_json(),
            "enabled": settings.enabled,
            "anchor": anchor,
            "fired_through": fired,
            "next_fire_at": _next(settings, anchor, fired),
        }

    def _tick(self, connection: Connection, row: Any, event: RecordedEvent) -> dict[str, Any]:
        tick = TickFired.model_validate(event.data)
        last = json.loads(row["last_renders"])
        for target in tick.targets:
            if target.render_job_id is not None:
                last[target.project_id] = {
                    "project_version": target.project_version,
                    "render_job_id": target.render_job_id,
                }
        pending = sum(1 for t in tick.targets if t.render_job_id is not None and t.export_path is not None)
        connection.execute(
            insert(studio_schedule_runs).values(
                run_id=tick.run_id,
                schedule_id=row["id"],
                fire_time=tick.fire_time,
                fired_at=tick.fired_at,
                missed=tick.missed,
                targets=json.dumps([t.model_dump() for t in tick.targets]),
                export_format=tick.export_format,
                exports="{}",
                pending_exports=pending,
                created_position=event.position,
            )
        )
        settings = ScheduleSettings.model_validate_json(row["settings"])
        fired = max(row["fired_through"], tick.fire_time)
        return {
            "fired_through": fired,
            "next_fire_at": _next(settings, row["anchor"], fired),
            "last_renders": json.dumps(last),
            "run_count": row["run_count"] + 1,
            "last_run_at": tick.fire_time,
        }

    def _exported(self, connection: Connection, exported: RunExported) -> None:
        this = studio_schedule_runs.c.run_id == exported.run_id
        run = connection.execute(select(studio_schedule_runs).where(this)).mappings().first()
        if run is None:
            return
        exports = json.loads(run["exports"])
        if exported.project_id in exports:
            return
        exports[exported.project_id] = exported.model_dump(exclude={"run_id"})
        connection.execute(
            update(studio_schedule_runs)
            .where(this)
            .values(exports=json.dumps(exports), pending_exports=max(0, run["pending_exports"] - 1))
        )
