"""Studio schedules through the routes and the ticker, with real Piper on the embedded broker: a
tick renders what changed and exports it to a media path, an unchanged project is not rendered
again, missed ticks coalesce, a tick fired twice runs once, and bad input is refused naming the
field with nothing written. The ticker is driven with chosen times here (the web process's own
poll is off), so every tick is one the test decides."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import dramatiq
import pytest
from quart.typing import TestClientProtocol as Client

from app.bootstrap import Container
from app.maintenance.studio_schedules import export_finished, fire_due
from app.projections.studio_schedules import schedule_of
from app.projections.tables import studio_schedules
from app.settings import Settings
from domain.studio_renders import STUDIO_RENDER
from domain.studio_schedules import TickFired
from tests.integration.conftest import json_answer as _json
from tests.integration.conftest import wait_for_terminal
from workers.engines.audio import decode_audio
from workers.engines.base import SAMPLE_RATE
from workflows.studio_schedules import TickRecorder

pytestmark = pytest.mark.usefixtures("runtime")

PROJECTS = "/v1/studio/projects"
SCHEDULES = "/v1/studio/schedules"
TEXT = "The weather was warm and sunny all day.\n\nPlease call me tomorrow morning."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The web process's own ticker off: every tick here is fired by the test."""
    return settings.model_copy(update={"studio_schedule_poll_seconds": 0})


async def _project(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "News", "text": TEXT, "model": "Piper-Joe-Medium", **fields}
    return await _json(await client.post(PROJECTS, json=body), 201)


async def _schedule(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "Hourly", "interval_seconds": 60, **fields}
    return await _json(await client.post(SCHEDULES, json=body), 201)


async def _runs(client: Client, schedule_id: str) -> list[dict[str, Any]]:
    return (await _json(await client.get(f"{SCHEDULES}/{schedule_id}/runs"), 200))["records"]


async def _fire(container: Container, at: float) -> int:
    return await asyncio.to_thread(fire_due, container, at)


async def _finish(container: Container, run: dict[str, Any]) -> None:
    for job in run["render_jobs"]:
        events = await asyncio.to_thread(wait_for_terminal, container, STUDIO_RENDER.stream_id(job["job_id"]))
        assert events[-1].type == "render.completed", events[-1].data
    await asyncio.to_thread(export_finished, container)


async def test_an_interval_schedule_renders_what_changed_and_exports_it(
    client: Client, container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    project = await _project(client)
    schedule = await _schedule(
        client, project_id=project["id"], export_path="studio/news.mp3", export_format="mp3"
    )
    created = schedule["next_run_at"] - 60
    assert schedule["enabled"] and schedule["export"]["url"] == "/v1/media/studio/news.mp3"
    assert await _fire(container, created + 59) == 0

    assert await _fire(container, created + 60.5) == 1
    [run] = await _runs(client, schedule["id"])
    assert run["scheduled_for"] == pytest.approx(created + 60, abs=1e-3) and run["missed_ticks"] == 0
    assert [job["project_id"] for job in run["render_jobs"]] == [project["id"]]
    await _finish(container, run)
    [run] = await _runs(client, schedule["id"])
    assert run["status"] == "completed", run
    [export] = run["exports"]
    assert export["error"] is None and export["size_bytes"] > 1000
    stored = await client.get("/v1/media/studio/news.mp3")
    assert stored.status_code == 200 and stored.mimetype == "audio/mpeg"
    heard = decode_audio(await stored.get_data(), SAMPLE_RATE)
    timeline = await _json(await client.get(f"{PROJECTS}/{project['id']}/audio/timeline"), 200)
    assert len(heard) / SAMPLE_RATE == pytest.approx(timeline["duration_secs"], abs=0.1)

    assert await _fire(container, created + 120.5) == 1
    runs = await _runs(client, schedule["id"])
    assert runs[0]["status"] == "unchanged" and runs[0]["render_jobs"] == []
    assert runs[0]["skipped"] == [{"project_id": project["id"], "reason": "unchanged"}]

    first = project["segments"][0]["id"]
    edit = {"text": "The weather was cold."}
    await _json(await client.patch(f"{PROJECTS}/{project['id']}/segments/{first}", json=edit), 200)
    assert await _fire(container, created + 180.5) == 1
    runs = await _runs(client, schedule["id"])
    await _finish(container, runs[0])
    render = await _json(await client.get(f"{PROJECTS}/{project['id']}/render-jobs"), 200)
    newest = render["data"][0]
    assert newest["id"] == runs[0]["render_jobs"][0]["job_id"]
    assert newest["result"]["synthesized"] == [first] and newest["result"]["reused"] == 1
    shown = await _json(await client.get(f"{SCHEDULES}/{schedule['id']}"), 200)
    assert shown["run_count"] == 3 and shown["next_run_at"] == pytest.approx(created + 240, abs=1e-3)


async def test_missed_ticks_coalesce_unless_the_schedule_says_otherwise(
    client: Client, container: Container
) -> None:
    project = await _project(client)
    coalescing = await _schedule(client, project_id=project["id"])
    each = await _schedule(client, project_id=project["id"], coalesce=False)
    other = await _project(client)
    await _schedule(client, project_id=other["id"])
    listed = await _json(await client.get(SCHEDULES, query_string={"project_id": project["id"]}), 200)
    assert sorted(s["id"] for s in listed["records"]) == sorted([coalescing["id"], each["id"]])
    start = coalescing["next_run_at"] - 60
    await _fire(container, start + 10 * 60 + 30)  # ten ticks came due while nobody fired

    [run] = await _runs(client, coalescing["id"])
    assert run["missed_ticks"] == 9 and run["scheduled_for"] == pytest.approx(start + 600, abs=0.5)
    runs = await _runs(client, each["id"])
    assert len(runs) == 10 and all(r["missed_ticks"] == 0 for r in runs)
    assert len([r for r in runs if r["render_jobs"]]) == 1  # the first rendered, the rest found it unchanged
    assert await _fire(container, start + 10 * 60 + 31) == 0


async def test_a_tick_fired_by_two_processes_runs_once(client: Client, container: Container) -> None:
    project = await _project(client)
    schedule = await _schedule(client, project_id=project["id"])
    with container.engine.connect() as connection:
        row = dict(connection.execute(studio_schedules.select()).mappings().one())
    stale = schedule_of(row)
    due = schedule["next_run_at"] + 1
    first = TickRecorder(container.store, container.jobs).fire(
        stale, due, lambda: _targets(container, row), {}
    )
    second = TickRecorder(container.store, container.jobs).fire(
        stale, due, lambda: _targets(container, row), {}
    )

    assert len(first) == 1 and second == []
    ticks = [e for e in container.store.read_stream(stale.stream_id) if e.type.endswith(TickFired.verb)]
    assert len(ticks) == 1
    renders = await _json(await client.get(f"{PROJECTS}/{project['id']}/render-jobs"), 200)
    assert len(renders["data"]) == 1


def _targets(container: Container, row: dict[str, Any]) -> Any:
    from app.maintenance.studio_schedules import target_projects

    return target_projects(container, schedule_of(row).settings)


async def test_a_folder_schedule_exports_each_project_and_disabling_stops_it(
    client: Client, container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    folder = await _json(await client.post("/v1/studio/folders", json={"name": "Shows"}), 201)
    one = await _project(client, folder_id=folder["id"], text="First show.")
    two = await _project(client, folder_id=folder["id"], text="Second show.")
    await _project(client, text="Not in the folder.")
    schedule = await _schedule(client, folder_id=folder["id"], export_path="shows", export_format="flac")
    start = schedule["next_run_at"] - 60
    await _fire(container, start + 61)
    [run] = await _runs(client, schedule["id"])
    assert sorted(job["project_id"] for job in run["render_jobs"]) == sorted([one["id"], two["id"]])
    await _finish(container, run)
    for project in (one, two):
        stored = await client.get(f"/v1/media/shows/{project['id']}.flac")
        assert stored.status_code == 200 and stored.mimetype == "audio/flac"

    off = await _json(await client.patch(f"{SCHEDULES}/{schedule['id']}", json={"enabled": False}), 200)
    assert off["enabled"] is False and off["next_run_at"] is None
    assert await _fire(container, start + 10_000) == 0
    before = time.time()
    on = await _json(await client.patch(f"{SCHEDULES}/{schedule['id']}", json={"enabled": True}), 200)
    assert on["next_run_at"] >= before  # the ticks it missed while off are not run
    every = await _json(await client.patch(f"{SCHEDULES}/{schedule['id']}", json={"cron": "0 6 * * *"}), 200)
    assert every["interval_seconds"] is None and every["cron"] == "0 6 * * *"
    assert time.gmtime(every["next_run_at"]).tm_hour == 6
    await _json(await client.delete(f"{SCHEDULES}/{schedule['id']}"), 200)
    await _json(await client.get(f"{SCHEDULES}/{schedule['id']}"), 404)
    assert (await _json(await client.get(SCHEDULES), 200))["records"] == []


async def test_bad_schedules_are_refused_naming_the_field_and_nothing_is_written(
    client: Client, container: Container
) -> None:
    project = await _project(client)
    target = {"project_id": project["id"]}

    async def refused(body: dict[str, Any], status: int, param: str) -> None:
        error = (await _json(await client.post(SCHEDULES, json={"name": "x", **body}), status))["error"]
        assert error["param"] == param, error

    await refused({**target, "cron": "61 * * * *"}, 400, "cron")
    await refused({**target, "cron": "* * *"}, 400, "cron")
    await refused({**target, "cron": "0 6 * * *", "interval_seconds": 60}, 400, "cron")
    await refused({**target}, 400, "cron")
    await refused({**target, "interval_seconds": 0}, 400, "interval_seconds")
    await refused({**target, "cron": "0 6 * * *", "timezone": "Mars/Olympus"}, 400, "timezone")
    await refused({"interval_seconds": 60}, 400, "project_id")
    await refused({"project_id": "nope", "interval_seconds": 60}, 404, "project_id")
    await refused({"folder_id": "nope", "interval_seconds": 60}, 404, "folder_id")
    await refused({**target, "interval_seconds": 60, "export_path": "../out.wav"}, 400, "export_path")
    await refused({**target, "interval_seconds": 60, "export_format": "mp4"}, 400, "export_format")
    assert (await _json(await client.get(SCHEDULES), 200))["records"] == []

    schedule = await _schedule(client, **target)
    path = f"{SCHEDULES}/{schedule['id']}"
    patched = await client.patch(path, json={"cron": "not a cron"})
    assert (await _json(patched, 400))["error"]["param"] == "cron"
    assert (await _json(await client.patch(path, json={"name": None}), 400))["error"]["param"] == "name"
    assert (await _json(await client.get(path), 200))["version"] == schedule["version"]
    decomposed = await _json(await client.patch(path, json={"export_path": "out/cafe\u0301.wav"}), 200)
    assert decomposed["export"]["path"] == "out/caf\u00e9.wav"  # kept in NFC, as media paths are
    await _json(await client.get(f"{SCHEDULES}/nope/runs"), 404)
    await _json(await client.patch(f"{SCHEDULES}/nope", json={"enabled": False}), 404)
