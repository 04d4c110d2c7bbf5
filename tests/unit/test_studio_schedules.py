"""Studio schedules, pure: fire times from APScheduler's triggers, coalescing, what a change
restarts, what a tick renders, and a run's status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.fields import FieldError
from domain.studio_schedules import (
    LastRender,
    RunExported,
    RunTarget,
    Schedule,
    ScheduleSettings,
    TargetProject,
    changed,
    check_settings,
    plan_tick,
    run_id,
    run_status,
)
from workflows.studio_schedules import check_trigger, due_ticks, next_fire_time

T0 = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC).timestamp()


def _settings(**fields: object) -> ScheduleSettings:
    return ScheduleSettings.model_validate({"name": "s", "project_id": "p", "interval_seconds": 60, **fields})


def _schedule(**fields: object) -> Schedule:
    return Schedule(id="sched", settings=_settings(**fields), anchor=T0, fired_through=T0, version=1)


def test_an_interval_counts_from_its_anchor_and_a_restart_finds_the_same_ticks() -> None:
    settings = _settings()
    assert next_fire_time(settings, T0, T0) == T0 + 60
    assert next_fire_time(settings, T0, T0 + 60) == T0 + 120
    assert due_ticks(settings, T0, T0, T0 + 59) == []
    assert due_ticks(settings, T0, T0, T0 + 60) == [(T0 + 60, 0)]
    assert due_ticks(settings, T0, T0 + 60, T0 + 61) == []


def test_missed_ticks_coalesce_into_the_latest_or_run_one_by_one() -> None:
    assert due_ticks(_settings(), T0, T0, T0 + 605) == [(T0 + 600, 9)]
    each = due_ticks(_settings(coalesce=False), T0, T0, T0 + 605)
    assert each == [(T0 + 60 * n, 0) for n in range(1, 11)]
    capped = due_ticks(_settings(coalesce=False), T0, T0, T0 + 60 * 100)
    assert len(capped) == 20 and capped[0] == (T0 + 60, 0)


def test_a_schedule_far_behind_still_runs_its_latest_tick() -> None:
    ticks = due_ticks(_settings(interval_seconds=1), T0, T0, T0 + 40 * 24 * 3600)
    assert len(ticks) == 1 and ticks[0][0] == T0 + 40 * 24 * 3600 and ticks[0][1] >= 10_000 - 1


def test_a_cron_expression_fires_in_its_time_zone() -> None:
    settings = _settings(interval_seconds=None, cron="30 6 * * *", timezone="Europe/Berlin")
    fire = next_fire_time(settings, T0, T0)
    assert fire is not None and datetime.fromtimestamp(fire, UTC).hour == 5  # 06:30 CET
    with pytest.raises(FieldError) as bad:
        check_trigger(_settings(interval_seconds=None, cron="61 * * * *"))
    assert bad.value.param == "cron"
    with pytest.raises(FieldError) as zone:
        check_trigger(_settings(interval_seconds=None, cron="0 * * * *", timezone="Nowhere/Land"))
    assert zone.value.param == "timezone"


def test_a_schedule_names_one_target_and_one_trigger() -> None:
    with pytest.raises(FieldError) as both:
        check_settings(_settings(folder_id="f"))
    assert both.value.param == "project_id"
    with pytest.raises(FieldError) as neither:
        check_settings(_settings(interval_seconds=None))
    assert neither.value.param == "cron"


def test_a_new_trigger_or_enabling_again_starts_the_ticks_afresh() -> None:
    schedule = _schedule()
    assert changed(schedule, {"name": "s"}, T0 + 5) is None
    renamed = changed(schedule, {"name": "t"}, T0 + 5)
    assert renamed is not None and renamed.fired_through is None and renamed.anchor is None
    retimed = changed(schedule, {"interval_seconds": 30}, T0 + 5)
    assert retimed is not None and retimed.anchor == T0 + 5 and retimed.fired_through == T0 + 5
    off = Schedule("sched", _settings(enabled=False), T0, T0, 2)
    on = changed(off, {"enabled": True}, T0 + 500)
    assert on is not None and on.fired_through == T0 + 500 and on.anchor is None


def test_a_tick_renders_the_projects_that_changed_or_failed_and_skips_the_rest() -> None:
    schedule = _schedule(export_path="out/news.wav")
    projects = [
        TargetProject("new", 3, 4, 2, "Piper"),
        TargetProject("same", 5, 9, 2, "Piper"),
        TargetProject("failed", 5, 9, 2, "Piper"),
        TargetProject("empty", 1, 1, 0, "Piper"),
        TargetProject("gone", None),
    ]
    last = {"same": LastRender(5, "completed"), "failed": LastRender(5, "failed")}
    tick = plan_tick(schedule, T0 + 60, 0, T0 + 61, projects, last)
    assert tick.run_id == run_id("sched", T0 + 60)
    by_project = {t.project_id: t for t in tick.targets}
    assert by_project["new"].render_job_id and by_project["failed"].render_job_id
    assert by_project["new"].render_job_id != by_project["failed"].render_job_id
    assert by_project["new"].export_path == "out/news.wav"
    assert [by_project[p].skipped for p in ("same", "empty", "gone")] == ["unchanged", "empty", "gone"]
    again = plan_tick(schedule, T0 + 60, 0, T0 + 99, projects, last)
    assert again.targets == tick.targets  # the same tick always plans the same jobs


def test_a_run_is_done_when_its_renders_and_exports_are() -> None:
    rendered = RunTarget(project_id="p", project_version=3, render_job_id="j", export_path="out.wav")
    skipped = RunTarget(project_id="q", project_version=1, skipped="unchanged")
    exported = RunExported(run_id="r", project_id="p", path="out.wav", size_bytes=10)
    assert run_status([skipped], {}, {}) == "unchanged"
    assert run_status([rendered, skipped], {"j": "running"}, {}) == "running"
    assert run_status([rendered], {"j": "completed"}, {}) == "exporting"
    assert run_status([rendered], {"j": "completed"}, {"p": exported}) == "completed"
    assert run_status([rendered], {"j": "failed"}, {}) == "failed"
    failed_export = exported.model_copy(update={"error": "no audio"})
    assert run_status([rendered], {"j": "completed"}, {"p": failed_export}) == "failed"
