"""Studio schedules: their fire times (APScheduler's cron and interval triggers) and a tick fired.

A tick is recorded and its render jobs submitted in one transaction, at the schedule's version:
another process that fired the same tick first makes the append a ``ConcurrencyError`` and this
one records nothing (the tick runs once). Ticks that came due while nobody was firing (the server
was down) coalesce into one run, unless the schedule says otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from domain.events import deterministic_event_id
from domain.fields import FieldError
from domain.studio_renders import STUDIO_RENDER, RenderParams
from domain.studio_schedules import (
    CATEGORY,
    MAX_CATCH_UP_RUNS,
    LastRender,
    RunExported,
    Schedule,
    ScheduleSettings,
    TargetProject,
    TickFired,
    plan_tick,
    tick_event_id,
)
from eventstore.base import ConcurrencyError, EventStore
from workflows.jobs import JobService, to_new_event

log = logging.getLogger(__name__)

MAX_COUNTED_TICKS = 10_000
"""Missed ticks are counted up to this many (a 1 s schedule after a month down is not walked)."""
_AFTER = timedelta(microseconds=1)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError(
            f"Unknown `timezone` {name!r}: use an IANA name such as Europe/Berlin.", "timezone"
        ) from None


def trigger_of(settings: ScheduleSettings, anchor: float) -> BaseTrigger:
    """The APScheduler trigger; ``FieldError`` naming ``cron`` or ``timezone`` when they do not parse."""
    zone = _zone(settings.timezone)
    if settings.cron is not None:
        try:
            return CronTrigger.from_crontab(settings.cron, timezone=zone)
        except ValueError as error:
            raise FieldError(
                f"`cron` {settings.cron!r} does not parse ({error}): give five fields, "
                "minute hour day month weekday, such as '0 6 * * 1-5'.",
                "cron",
            ) from None
    seconds = settings.interval_seconds or 0
    start = datetime.fromtimestamp(anchor, UTC) + timedelta(seconds=seconds)
    return IntervalTrigger(seconds=seconds, start_date=start, timezone=UTC)


def check_trigger(settings: ScheduleSettings) -> None:
    trigger_of(settings, 0.0)


def _stamp(moment: datetime) -> float:
    return round(moment.timestamp(), 6)


def next_fire_time(settings: ScheduleSettings, anchor: float, after: float) -> float | None:
    """The first tick after ``after`` (None: the trigger never fires again)."""
    trigger = trigger_of(settings, anchor)
    moment = trigger.get_next_fire_time(None, datetime.fromtimestamp(after, UTC) + _AFTER)
    return _stamp(moment) if moment is not None else None


def due_ticks(settings: ScheduleSettings, anchor: float, after: float, now: float) -> list[tuple[float, int]]:
    """The ticks to run now, each with how many earlier due ticks it stands for: the latest one
    alone when coalescing, else the earliest ``MAX_CATCH_UP_RUNS``."""
    trigger = trigger_of(settings, anchor)
    until = datetime.fromtimestamp(now, UTC)
    due: list[float] = []
    moment = trigger.get_next_fire_time(None, datetime.fromtimestamp(after, UTC) + _AFTER)
    while moment is not None and moment <= until and len(due) < MAX_COUNTED_TICKS:
        due.append(_stamp(moment))
        if not settings.coalesce and len(due) >= MAX_CATCH_UP_RUNS:
            break
        moment = trigger.get_next_fire_time(moment, moment + _AFTER)
    if not due:
        return []
    if not settings.coalesce:
        return [(tick, 0) for tick in due]
    if len(due) == MAX_COUNTED_TICKS and moment is not None and moment <= until:
        # Far behind: the latest due tick is found from a little before now, the count stays a floor.
        gap = (due[-1] - due[0]) / (len(due) - 1) if len(due) > 1 else 1.0
        latest = due_ticks(settings, anchor, max(due[-1], now - 2 * gap), now)
        if latest:
            return [(latest[-1][0], len(due) + latest[-1][1])]
    return [(due[-1], len(due) - 1)]


class TickRecorder:
    """Fires a schedule's due ticks: plans each run and records it with its render jobs."""

    def __init__(self, store: EventStore, jobs: JobService) -> None:
        self.store = store
        self.jobs = jobs

    def fire(
        self,
        schedule: Schedule,
        now: float,
        projects: Callable[[], Sequence[TargetProject]],
        last_renders: Mapping[str, LastRender],
    ) -> list[TickFired]:
        """Record the ticks due at ``now`` (none when another process recorded them first)."""
        if not schedule.settings.enabled:
            return []
        fired: list[TickFired] = []
        version, last = schedule.version, dict(last_renders)
        for fire_time, missed in due_ticks(schedule.settings, schedule.anchor, schedule.fired_through, now):
            current = projects()
            tick = plan_tick(schedule, fire_time, missed, now, current, last)
            try:
                recorded = self._record(schedule, tick, version, {p.project_id: p for p in current})
            except ConcurrencyError:
                recorded = False
            if not recorded:
                log.info("tick %s of %s was fired elsewhere", fire_time, schedule.stream_id)
                return fired
            version += 1
            fired.append(tick)
            for target in tick.targets:
                if target.render_job_id is not None and target.project_version is not None:
                    last[target.project_id] = LastRender(target.project_version, "queued")
        return fired

    def _record(
        self, schedule: Schedule, tick: TickFired, version: int, by_id: Mapping[str, TargetProject]
    ) -> bool:
        meta = {"correlation_id": schedule.stream_id}
        event = to_new_event(CATEGORY, tick, tick_event_id(schedule, tick.fire_time), meta)
        with self.store.transaction() as tx:
            if tx.append(schedule.stream_id, [event], version).deduplicated:
                return False
            for target in tick.targets:
                if target.render_job_id is None:
                    continue
                project = by_id[target.project_id]
                params = RenderParams(
                    project_id=target.project_id, project_version=project.version, model=project.model
                )
                job_meta = {"causation_id": event.event_id, "schedule_id": schedule.id, "run_id": tick.run_id}
                self.jobs.submit_in(tx, STUDIO_RENDER, params, job_id=target.render_job_id, metadata=job_meta)
        return True

    def record_export(self, schedule_stream: str, exported: RunExported) -> None:
        """Record a run's export of one project (once: its event id derives from the run and project)."""
        event_id = deterministic_event_id(
            schedule_stream, exported.verb, exported.run_id, exported.project_id
        )
        self.store.append(schedule_stream, [to_new_event(CATEGORY, exported, event_id)])
