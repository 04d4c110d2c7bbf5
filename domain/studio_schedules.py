"""Scheduled Studio render pipelines (``studioschedule-<id>`` streams, docs/studio.md).

Pure. A schedule targets a project or every project of a folder and fires on a cron expression or
an interval; ``workflows.studio_schedules`` computes its fire times (APScheduler's triggers). Each
tick appends ``tick_fired`` with the run it starts: for every target project, the render job it
submitted or why it rendered nothing (the project has not changed since the run that rendered it,
or has no segments). Run and render job ids derive from the schedule and the tick, and the tick is
appended at the schedule's version, so two processes firing one tick run it once. Ticks at or
before ``fired_through`` are done; a schedule created, re-enabled or given a new trigger starts
after that moment, so a restart changes nothing about what runs when.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.events import DomainEvent, deterministic_event_id, stream_id
from domain.fields import FieldError

CATEGORY = "studioschedule"
OBJECT = "studio.schedule"
RUN_OBJECT = "studio.schedule_run"
MIN_INTERVAL_SECONDS = 1
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
MAX_CATCH_UP_RUNS = 20
"""Without coalescing, at most this many missed ticks are run at one poll (the rest at the next)."""

UNCHANGED = "unchanged"
EMPTY = "empty"
GONE = "gone"
SKIP_REASONS = (UNCHANGED, EMPTY, GONE)

RUN_UNCHANGED, RUN_RUNNING, RUN_EXPORTING, RUN_COMPLETED, RUN_FAILED = (
    "unchanged",
    "running",
    "exporting",
    "completed",
    "failed",
)
RENDER_SETTLED_OK = frozenset({"completed", "stale"})
RENDER_FAILED = frozenset({"failed", "cancelled"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScheduleSettings(_Frozen):
    name: str
    project_id: str | None = None
    folder_id: str | None = None
    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str = "UTC"
    enabled: bool = True
    coalesce: bool = True
    """Missed ticks (the server was down) run once, not once each."""
    export_path: str | None = None
    """A media path the run's audio is exported to (a folder's projects: ``<path>/<project id>.<format>``)."""
    export_format: str = "wav"


TRIGGER_FIELDS = frozenset({"cron", "interval_seconds", "timezone"})
"""Changing one of these starts the schedule's ticks afresh from the moment of the change."""


class RunTarget(_Frozen):
    project_id: str
    project_version: int | None = None
    """The project's content version the run rendered (None: the project is gone)."""
    render_job_id: str | None = None
    skipped: str | None = None
    """Why nothing was rendered (``SKIP_REASONS``)."""
    export_path: str | None = None


# --- events -----------------------------------------------------------------------------------


class ScheduleCreated(ScheduleSettings, DomainEvent):
    verb = "created"
    schedule_id: str
    anchor: float
    """Where an interval's ticks count from."""
    fired_through: float


class ScheduleChanged(DomainEvent):
    verb = "changed"
    changes: dict[str, Any]
    anchor: float | None = None
    fired_through: float | None = None
    """Set when the change starts the ticks afresh (a new trigger, enabled again)."""


class TickFired(DomainEvent):
    verb = "tick_fired"
    run_id: str
    fire_time: float
    missed: int = 0
    """Earlier ticks that were due and coalesced into this one."""
    fired_at: float
    targets: tuple[RunTarget, ...]
    export_format: str | None = None


class RunExported(DomainEvent):
    verb = "run_exported"
    run_id: str
    project_id: str
    path: str
    size_bytes: int | None = None
    error: str | None = None


class ScheduleDeleted(DomainEvent):
    verb = "deleted"


# --- state ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A schedule as it stands at stream ``version`` (read from its read model)."""

    id: str
    settings: ScheduleSettings
    anchor: float
    fired_through: float
    version: int

    @property
    def stream_id(self) -> str:
        return stream_id(CATEGORY, self.id)


@dataclass(frozen=True)
class LastRender:
    """The last render a schedule made of a project, and how it stands now."""

    project_version: int
    status: str | None
    """The render job's status (None: the job is not recorded)."""


@dataclass(frozen=True)
class TargetProject:
    """A target project as the tick finds it (``content_version`` None: it no longer exists)."""

    project_id: str
    content_version: int | None
    version: int = 0
    segment_count: int = 0
    model: str = ""


def check_settings(settings: ScheduleSettings) -> ScheduleSettings:
    """A whole schedule's rules (after a create or a change); the trigger's own syntax is
    ``workflows.studio_schedules.check_trigger``'s."""
    if (settings.project_id is None) == (settings.folder_id is None):
        raise FieldError(
            "Give exactly one of `project_id` and `folder_id`: what the schedule renders.", "project_id"
        )
    if (settings.cron is None) == (settings.interval_seconds is None):
        raise FieldError("Give exactly one of `cron` and `interval_seconds`: when the schedule runs.", "cron")
    return settings


def changed(schedule: Schedule, changes: Mapping[str, Any], now: float) -> ScheduleChanged | None:
    """The change of ``changes`` (only fields that differ), None when nothing differs."""
    current = schedule.settings.model_dump()
    differ = {key: value for key, value in changes.items() if current.get(key) != value}
    if not differ:
        return None
    check_settings(schedule.settings.model_copy(update=differ))
    restart = bool(TRIGGER_FIELDS & differ.keys()) or differ.get("enabled") is True
    if not restart:
        return ScheduleChanged(changes=differ)
    anchor = now if TRIGGER_FIELDS & differ.keys() else None
    return ScheduleChanged(changes=differ, anchor=anchor, fired_through=max(now, schedule.fired_through))


def run_id(schedule_id: str, fire_time: float) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"sauti:studio-schedule/{schedule_id}/{fire_time:.6f}").hex


def render_job_id(run: str, project_id: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"sauti:studio-schedule-run/{run}/{project_id}").hex


def tick_event_id(schedule: Schedule, fire_time: float) -> str:
    return deterministic_event_id(schedule.stream_id, TickFired.verb, f"{fire_time:.6f}")


def export_path_for(settings: ScheduleSettings, project_id: str) -> str | None:
    if settings.export_path is None:
        return None
    if settings.project_id is not None:
        return settings.export_path
    return f"{settings.export_path}/{project_id}.{settings.export_format}"


def _needs_render(project: TargetProject, last: LastRender | None) -> bool:
    if last is None or last.project_version != project.content_version:
        return True
    return last.status is None or last.status in RENDER_FAILED


def plan_tick(
    schedule: Schedule,
    fire_time: float,
    missed: int,
    now: float,
    projects: Sequence[TargetProject],
    last_renders: Mapping[str, LastRender],
) -> TickFired:
    """The run a tick starts: a render of each target project that changed since the schedule
    last rendered it (or whose last render failed), nothing for the others."""
    run = run_id(schedule.id, fire_time)
    targets: list[RunTarget] = []
    for project in projects:
        version = project.content_version
        if version is None:
            targets.append(RunTarget(project_id=project.project_id, skipped=GONE))
        elif project.segment_count == 0:
            targets.append(RunTarget(project_id=project.project_id, project_version=version, skipped=EMPTY))
        elif not _needs_render(project, last_renders.get(project.project_id)):
            targets.append(
                RunTarget(project_id=project.project_id, project_version=version, skipped=UNCHANGED)
            )
        else:
            targets.append(
                RunTarget(
                    project_id=project.project_id,
                    project_version=version,
                    render_job_id=render_job_id(run, project.project_id),
                    export_path=export_path_for(schedule.settings, project.project_id),
                )
            )
    return TickFired(
        run_id=run,
        fire_time=fire_time,
        missed=missed,
        fired_at=now,
        targets=tuple(targets),
        export_format=schedule.settings.export_format if schedule.settings.export_path else None,
    )


def run_status(
    targets: Sequence[RunTarget],
    render_statuses: Mapping[str, str | None],
    exports: Mapping[str, RunExported],
) -> str:
    """A run's status from its render jobs' and exports' (``render_statuses`` by job id)."""
    rendered = [t for t in targets if t.render_job_id is not None]
    if not rendered:
        return RUN_UNCHANGED
    statuses = [render_statuses.get(t.render_job_id or "") for t in rendered]
    if any(status in RENDER_FAILED for status in statuses):
        return RUN_FAILED
    if not all(status in RENDER_SETTLED_OK for status in statuses):
        return RUN_RUNNING
    exported = [exports.get(t.project_id) for t in rendered if t.export_path is not None]
    if any(export is None for export in exported):
        return RUN_EXPORTING
    if any(export is not None and export.error for export in exported):
        return RUN_FAILED
    return RUN_COMPLETED
