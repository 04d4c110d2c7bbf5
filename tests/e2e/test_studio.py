"""Studio through a real ``sauti serve`` with its worker processes: a project rendered with Piper and
its export understood by Whisper-Base (through the OpenAI route), one edited segment re-rendered
alone, a restored snapshot rendering nothing, a worker SIGKILLed mid-render losing and repeating
nothing, and a 2 s interval schedule that renders on its own and keeps doing so across a restart."""

from __future__ import annotations

import io
import itertools
import os
import signal
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import SautiServer, alive_workers, wait_for_events, wait_for_terminal, wait_until
from tests.wer import word_error_rate

PROJECTS = "/v1/studio/projects"
SCHEDULES = "/v1/studio/schedules"
PARAGRAPHS = (
    "The weather was warm and sunny all day.",
    "Please call me tomorrow morning.",
    "We will meet at the library after lunch.",
)
LONG = " ".join(f"This is sentence number {n} of a long story about the sea." for n in range(1, 13))


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _render(client: httpx.Client, project_id: str) -> dict[str, Any]:
    job = _ok(client.post(f"{PROJECTS}/{project_id}/render-jobs", json={}), 202)
    events = wait_for_terminal(client, f"render-{job['id']}", timeout=300)
    assert events[-1]["type"] == "render.completed", events[-1]
    result: dict[str, Any] = events[-1]["data"]["result"]
    return result


def test_a_project_renders_exports_and_re_renders_only_what_changed(
    api: httpx.Client, sauti_server: SautiServer
) -> None:
    client = api
    project = _ok(
        client.post(
            PROJECTS, json={"name": "Three", "text": "\n\n".join(PARAGRAPHS), "model": "Piper-Joe-Medium"}
        ),
        201,
    )
    project_id = project["id"]
    first = _render(client, project_id)
    assert len(first["synthesized"]) == 3 and first["reused"] == 0

    exported = client.get(f"{PROJECTS}/{project_id}/audio", params={"format": "wav", "download": "true"})
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    heard = sauti_server.openai_client().audio.transcriptions.create(
        model="Whisper-Base", file=("three.wav", io.BytesIO(exported.content), "audio/wav"), language="en"
    )
    assert word_error_rate(" ".join(PARAGRAPHS), heard.text) <= 0.10, heard.text
    compressed = client.get(f"{PROJECTS}/{project_id}/audio", params={"format": "opus"})
    assert compressed.status_code == 200 and compressed.headers["content-type"] == "audio/opus"
    assert 0 < len(compressed.content) < len(exported.content) / 4

    snapshot = _ok(client.post(f"{PROJECTS}/{project_id}/snapshots", json={"name": "as read"}), 201)
    second = project["segments"][1]["id"]
    _ok(client.patch(f"{PROJECTS}/{project_id}/segments/{second}", json={"text": "Call me at noon."}))
    edited = _render(client, project_id)
    assert edited["synthesized"] == [second] and edited["reused"] == 2
    _ok(client.post(f"{PROJECTS}/{project_id}/snapshots/{snapshot['id']}/restore"))
    restored = _render(client, project_id)
    assert restored["synthesized"] == [] and restored["reused"] == 3


def test_a_worker_killed_mid_render_loses_and_repeats_nothing(
    server_factory: Callable[..., SautiServer],
) -> None:
    server = server_factory()
    with server.client(timeout=httpx.Timeout(60.0)) as client:
        wait_until(lambda: alive_workers(client), 30, "a live worker")
        project = _ok(
            client.post(
                PROJECTS,
                json={
                    "name": "Long",
                    "model": "Piper-Joe-Medium",
                    "segments": [{"text": sentence + "."} for sentence in LONG.split(". ") if sentence],
                },
            ),
            201,
        )
        segment_ids = sorted(s["id"] for s in project["segments"])
        job = _ok(client.post(f"{PROJECTS}/{project['id']}/render-jobs", json={}), 202)
        stream = f"render-{job['id']}"

        def synthesized(events: list[dict[str, Any]]) -> list[str]:
            return [
                e["data"]["detail"]["segment_id"]
                for e in events
                if e["type"] == "render.progressed" and e["data"]["detail"]["synthesized"]
            ]

        wait_for_events(client, stream, lambda events: len(synthesized(events)) >= 2, 120, "two segments")
        os.kill(alive_workers(client)[0]["pid"], signal.SIGKILL)
        events = wait_for_terminal(client, stream, timeout=300)
        after = _ok(client.get(f"{PROJECTS}/{project['id']}"))

    types = [e["type"] for e in events]
    assert types[-1] == "render.completed", types
    assert types.count("render.started") >= 2, types  # it ran again after the kill
    assert sorted(synthesized(events)) == segment_ids  # each segment synthesized once, across both runs
    assert sorted(events[-1]["data"]["result"]["synthesized"]) == segment_ids
    assert all(segment["rendered"] for segment in after["segments"])


def _runs(client: httpx.Client, schedule_id: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = _ok(client.get(f"{SCHEDULES}/{schedule_id}/runs", params={"limit": 100}))[
        "records"
    ]
    return records


def test_an_interval_schedule_renders_on_its_own_and_across_a_restart(
    server_factory: Callable[..., SautiServer],
) -> None:
    server = server_factory()
    with server.client() as client:
        project = _ok(
            client.post(PROJECTS, json={"name": "Daily", "text": PARAGRAPHS[0], "model": "Piper-Joe-Medium"}),
            201,
        )
        body = {
            "name": "Every 2 s",
            "project_id": project["id"],
            "interval_seconds": 2,
            "export_path": "daily/news.wav",
        }
        schedule = _ok(client.post(SCHEDULES, json=body), 201)
        anchor = schedule["next_run_at"] - 2

        def rendered_run() -> dict[str, Any] | None:
            done = [
                r for r in _runs(client, schedule["id"]) if r["status"] == "completed" and r["render_jobs"]
            ]
            return done[0] if done else None

        first = wait_until(rendered_run, 60, "a scheduled run that rendered and exported")
        wait_until(
            lambda: any(r["status"] == "unchanged" for r in _runs(client, schedule["id"])),
            30,
            "an unchanged run",
        )
        assert client.get("/v1/media/daily/news.wav").status_code == 200
    server.stop_and_check()

    again = server_factory(server.data_dir)
    with again.client() as client:
        before = {r["id"] for r in _runs(client, schedule["id"])}
        segment = project["segments"][0]["id"]
        _ok(
            client.patch(
                f"{PROJECTS}/{project['id']}/segments/{segment}", json={"text": "It rained all day."}
            )
        )

        def rendered_after_restart() -> dict[str, Any] | None:
            done = [
                r
                for r in _runs(client, schedule["id"])
                if r["id"] not in before and r["status"] == "completed" and r["render_jobs"]
            ]
            return done[0] if done else None

        later = wait_until(rendered_after_restart, 60, "a run after the restart that rendered the edit")
        runs = _runs(client, schedule["id"])

    assert later["scheduled_for"] > first["scheduled_for"]
    # Every tick, before and after the restart, falls on the schedule's own 2 s grid, and none twice.
    offsets = [(run["scheduled_for"] - anchor) / 2 for run in runs]
    assert all(offset == pytest.approx(round(offset), abs=1e-3) for offset in offsets), offsets
    assert len({round(offset) for offset in offsets}) == len(runs)
    # Ticks due while the server was down coalesced into the first run after it: each run counts
    # the grid points since the one before it.
    grid = sorted((round(offset), run["missed_ticks"]) for offset, run in zip(offsets, runs, strict=True))
    assert all(
        missed == point - previous - 1 for (previous, _), (point, missed) in itertools.pairwise(grid)
    ), grid
