"""Studio through the routes, with real Piper on the embedded broker: a project from text, renders
that synthesize only what changed, snapshots, pronunciations, the export and its timeline, and
bad input refused with nothing written."""

from __future__ import annotations

import asyncio
import io
import itertools
import wave
from collections.abc import Callable
from typing import Any

import dramatiq
import numpy as np
import pytest
from quart.typing import TestClientProtocol as Client

from app.bootstrap import Container
from domain.catalog import find_variant
from domain.studio_renders import STUDIO_RENDER
from eventstore.base import RecordedEvent
from tests.integration.conftest import json_answer as _json
from tests.integration.conftest import wait_for_terminal
from tests.wer import word_error_rate
from workers.engines.audio import decode_audio
from workers.engines.base import SAMPLE_RATE
from workers.engines.registry import EngineRegistry

pytestmark = pytest.mark.usefixtures("runtime")

PARAGRAPHS = (
    "The weather was warm and sunny all day.",
    "Please call me tomorrow morning.",
    "We will meet at the library after lunch.",
)
TEXT = "\n\n".join(PARAGRAPHS)
PROJECTS = "/v1/studio/projects"
AUDIO_RENDERED = "studio.segment_audio_rendered"


async def _create(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "Chapter one", "text": TEXT, "model": "Piper-Joe-Medium", **fields}
    return await _json(await client.post(PROJECTS, json=body), 201)


async def _render(client: Client, container: Container, project_id: str, **body: Any) -> RecordedEvent:
    job = await _json(await client.post(f"{PROJECTS}/{project_id}/render-jobs", json=body), 202)
    assert job["status"] in ("queued", "running", "completed")  # a worker may be quick
    events = await asyncio.to_thread(wait_for_terminal, container, STUDIO_RENDER.stream_id(job["id"]))
    assert events[-1].type == "render.completed", events[-1].data
    progress = [e.data for e in events if e.type == "render.progressed"]
    assert [p["detail"]["done"] for p in progress] == list(range(1, len(progress) + 1))
    return events[-1]


def _rendered_events(container: Container, project_id: str) -> list[RecordedEvent]:
    return [e for e in container.store.read_stream(f"studio-{project_id}") if e.type == AUDIO_RENDERED]


async def test_a_project_renders_only_what_changed_and_exports_what_whisper_understands(
    client: Client, container: Container, engines: EngineRegistry, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    project = await _create(client)
    assert [s["text"] for s in project["segments"]] == list(PARAGRAPHS)
    project_id = project["id"]
    assert (await _json(await client.get(f"{PROJECTS}/{project_id}/audio"), 409))["error"]["message"]

    first = await _render(client, container, project_id)
    assert len(first.data["result"]["synthesized"]) == 3 and first.data["result"]["reused"] == 0
    listed = await _json(await client.get(f"{PROJECTS}/{project_id}/render-jobs"), 200)
    assert [job["status"] for job in listed["data"]] == ["completed"]  # its own audio changes no text

    exported = await client.get(f"{PROJECTS}/{project_id}/audio?format=wav")
    assert exported.status_code == 200 and exported.mimetype == "audio/wav"
    data = await exported.get_data()
    with wave.open(io.BytesIO(data)) as wav:
        frames, rate = wav.getnframes(), wav.getframerate()
    timeline = await _json(await client.get(f"{PROJECTS}/{project_id}/audio/timeline"), 200)
    assert rate == timeline["sample_rate"] == 22_050
    assert abs(frames / rate - timeline["duration_secs"]) < 1e-3
    marks = timeline["segments"]
    assert [m["segment_id"] for m in marks] == [s["id"] for s in project["segments"]]
    assert all(m["start"] < m["end"] for m in marks)
    assert all(b["start"] - a["end"] == pytest.approx(0.4, abs=1e-3) for a, b in itertools.pairwise(marks))
    assert marks[-1]["end"] == pytest.approx(timeline["duration_secs"], abs=1e-3)

    variant = find_variant("Whisper-Base")
    assert variant is not None
    _, heard = engines.get(variant).transcribe(decode_audio(data, SAMPLE_RATE), language="en")
    assert word_error_rate(TEXT, " ".join(segment.text for segment in heard)) <= 0.10

    second_id = project["segments"][1]["id"]
    edited = await client.patch(
        f"{PROJECTS}/{project_id}/segments/{second_id}", json={"text": "Call me at noon."}
    )
    assert (await _json(edited, 200))["rendered"] is False
    listed = await _json(await client.get(f"{PROJECTS}/{project_id}/render-jobs"), 200)
    assert [job["status"] for job in listed["data"]] == ["stale"]
    again = await _render(client, container, project_id)
    assert again.data["result"]["synthesized"] == [second_id] and again.data["result"]["reused"] == 2
    assert len(_rendered_events(container, project_id)) == 4

    raw = await client.get(f"{PROJECTS}/{project_id}/audio?format=raw_f32&segment_ids={second_id}")
    samples = np.frombuffer(await raw.get_data(), dtype="<f4")
    assert samples.size > 0 and int(raw.headers["X-Sample-Rate"]) == 22_050


async def test_a_restored_snapshot_renders_nothing_new(
    client: Client, container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    project = await _create(client)
    project_id = project["id"]
    await _render(client, container, project_id)
    snapshot = await _json(await client.post(f"{PROJECTS}/{project_id}/snapshots", json={"name": "v1"}), 201)
    first_id = project["segments"][0]["id"]
    await _json(
        await client.patch(f"{PROJECTS}/{project_id}/segments/{first_id}", json={"text": "Changed."}), 200
    )
    restored = await _json(
        await client.post(f"{PROJECTS}/{project_id}/snapshots/{snapshot['id']}/restore"), 200
    )
    assert [s["text"] for s in restored["segments"]] == list(PARAGRAPHS)
    assert all(segment["rendered"] for segment in restored["segments"])
    # What an edit answers is the project evolved by its events: the same as folding it again.
    assert restored == await _json(await client.get(f"{PROJECTS}/{project_id}"), 200)
    render = await _render(client, container, project_id)
    assert render.data["result"]["synthesized"] == [] and render.data["result"]["reused"] == 3
    types = [e.type for e in container.store.read_stream(f"studio-{project_id}")]
    assert types.count("studio.restored") == 1 and types.count(AUDIO_RENDERED) == 3


async def test_segment_editing_and_pronunciations_change_what_needs_rendering(
    client: Client, container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    project = await _create(client)
    project_id = project["id"]
    base = f"{PROJECTS}/{project_id}"
    ids = [s["id"] for s in project["segments"]]
    await _render(client, container, project_id)

    word = await _json(
        await client.post(f"{base}/pronunciations", json={"term": "library", "replacement": "li bra ree"}),
        201,
    )
    assert word["segment_ids"] == [ids[2]]
    after = await _json(await client.get(base), 200)
    assert [s["rendered"] for s in after["segments"]] == [True, True, False]
    assert after["segments"][2]["spoken_text"] == "We will meet at the li bra ree after lunch."

    split = await _json(await client.post(f"{base}/segments/{ids[0]}/split", json={"offset": 15}), 200)
    assert [s["text"] for s in split["segments"][:2]] == ["The weather was", "warm and sunny all day."]
    merged = await _json(await client.post(f"{base}/segments/{ids[0]}/merge-next"), 200)
    assert merged["segments"][0]["text"] == PARAGRAPHS[0] and merged["segments"][0]["rendered"]
    order = [ids[2], ids[0], ids[1]]
    reordered = await _json(await client.patch(f"{base}/segments/reorder", json={"segment_ids": order}), 200)
    assert [s["id"] for s in reordered["segments"]] == order
    added = await _json(await client.post(f"{base}/segments", json={"text": "The end.", "index": 0}), 201)
    assert added["segments"][0]["text"] == "The end." and added["segment_count"] == 4
    gone = await _json(await client.post(f"{base}/segments/bulk-delete", json={"segment_ids": [ids[1]]}), 200)
    assert gone == await _json(await client.get(base), 200)
    assert ids[1] not in [s["id"] for s in gone["segments"]]
    listed = await _json(await client.get(PROJECTS), 200)
    assert listed["records"][0]["id"] == project_id and listed["records"][0]["segment_count"] == 3
    await _json(await client.delete(f"{base}/pronunciations/{word['id']}"), 200)
    assert (await _json(await client.get(base), 200))["pronunciations"] == []


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    client: Client, container: Container
) -> None:
    project = await _create(client)
    project_id = project["id"]
    base = f"{PROJECTS}/{project_id}"
    first = project["segments"][0]
    version = len(container.store.read_stream(f"studio-{project_id}"))

    async def refused(response: Any, status: int, param: str | None = None) -> None:
        body = await _json(response, status)
        if param is not None:
            assert body["error"]["param"] == param, body

    await refused(await client.get(f"{PROJECTS}/nope"), 404)
    await refused(await client.get(f"{base}/segments/nope"), 404)
    await refused(
        await client.post(f"{base}/segments/{first['id']}/split", json={"offset": 0}), 400, "offset"
    )
    await refused(
        await client.post(f"{base}/segments/{first['id']}/split", json={"offset": 999}), 400, "offset"
    )
    last = project["segments"][-1]["id"]
    await refused(await client.post(f"{base}/segments/{last}/merge-next"), 400, "segment_id")
    await refused(
        await client.patch(f"{base}/segments/reorder", json={"segment_ids": [last]}), 400, "segment_ids"
    )
    await refused(await client.patch(f"{base}/segments/{first['id']}", json={"text": "  "}), 400, "text")
    await refused(await client.patch(f"{base}/segments/{first['id']}", json={"speed": 9}), 400, "speed")
    await refused(
        await client.patch(f"{base}/segments/{first['id']}", json={"pause_after_ms": 60_001}),
        400,
        "pause_after_ms",
    )
    await refused(
        await client.post(PROJECTS, json={"name": "x", "text": "Hi.", "model": "Whisper-Base"}), 400, "model"
    )
    await refused(await client.post(PROJECTS, json={"text": "Hi."}), 400, "name")
    await refused(await client.post(PROJECTS, json={"name": "x", "folder_id": "nope"}), 400, "folder_id")
    await refused(await client.get(f"{base}/audio?format=mp4"), 400, "format")
    await refused(await client.delete(f"{base}/pronunciations/nope"), 404)
    await refused(await client.get(f"{base}/audio?segment_ids={first['id']},nope"), 404)
    empty = await _json(await client.post(PROJECTS, json={"name": "Empty", "model": "Piper-Joe-Medium"}), 201)
    await refused(await client.get(f"{PROJECTS}/{empty['id']}/audio"), 409)
    assert len(container.store.read_stream(f"studio-{project_id}")) == version


async def test_folders_hold_projects(client: Client) -> None:
    folder = await _json(await client.post("/v1/studio/folders", json={"name": "Audiobooks"}), 201)
    inside = await _create(client, folder_id=folder["id"])
    await _create(client)
    listed = await _json(await client.get(f"{PROJECTS}?folder_id={folder['id']}"), 200)
    assert [p["id"] for p in listed["records"]] == [inside["id"]]
    folders = await _json(await client.get("/v1/studio/folders"), 200)
    assert folders["records"][0]["name"] == "Audiobooks"


LONG = [f"This is sentence number {n} of a long story." for n in range(1, 9)]


def _project_with(container: Container, texts: list[str]) -> str:
    from domain.events import new_id
    from domain.studio import ProjectCreated, Segment
    from workflows.jobs import to_new_event

    project_id = new_id()
    created = ProjectCreated(
        project_id=project_id,
        name="Long",
        model="Piper-Joe-Medium",
        segments=tuple(Segment(id=f"s{index}", text=text) for index, text in enumerate(texts)),
    )
    container.store.append(f"studio-{project_id}", [to_new_event("studio", created)])
    return project_id


def _submit_render(container: Container, project_id: str) -> str:
    from domain.studio_renders import RenderParams

    version = len(container.store.read_stream(f"studio-{project_id}"))
    params = RenderParams(project_id=project_id, project_version=version, model="Piper-Joe-Medium")
    return str(container.jobs.submit(STUDIO_RENDER, params))


def _progressed(events: list[RecordedEvent]) -> int:
    return sum(1 for e in events if e.type == "render.progressed")


def test_a_worker_gone_mid_render_keeps_what_it_rendered_and_repeats_nothing(
    container: Container, engines: EngineRegistry
) -> None:
    from tests.integration.conftest import finish_after_restart, stop_worker_mid_job

    project_id = _project_with(container, LONG)
    stream_id, _before = stop_worker_mid_job(
        container, engines, lambda: _submit_render(container, project_id), lambda e: _progressed(e) >= 2
    )
    kept = len(_rendered_events(container, project_id))
    assert 2 <= kept < len(LONG)

    events = finish_after_restart(container, engines, stream_id)

    assert events[-1].type == "render.completed"
    rendered = _rendered_events(container, project_id)
    everything = sorted(f"s{n}" for n in range(len(LONG)))
    assert sorted(e.data["segment_id"] for e in rendered) == everything
    assert len({e.data["key"] for e in rendered}) == len(rendered) == len(LONG)
    result = events[-1].data["result"]
    assert sorted(result["synthesized"]) == everything and result["reused"] == 0
    details = [e.data["detail"] for e in events if e.type == "render.progressed"]
    # One progress event per segment, across both attempts: each was synthesized once.
    assert sorted(d["segment_id"] for d in details if d["synthesized"]) == everything
    stored = {path.name for path in container.settings.media_dir.rglob("*") if path.is_file()}
    assert {e.data["media"] for e in rendered} <= stored


def test_a_cancelled_render_stops_between_segments_and_the_next_renders_only_the_rest(
    container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    project_id = _project_with(container, LONG)
    stream_id = _submit_render(container, project_id)
    from tests.integration.conftest import wait_for_events

    wait_for_events(container, stream_id, lambda e: _progressed(e) >= 2)
    container.jobs.request_cancel(stream_id)
    cancelled = wait_for_terminal(container, stream_id)
    assert cancelled[-1].type == "render.cancelled"
    kept = len(_rendered_events(container, project_id))
    assert 2 <= kept < len(LONG)

    again = wait_for_terminal(container, _submit_render(container, project_id))
    result = again[-1].data["result"]
    assert len(result["synthesized"]) == len(LONG) - kept and result["reused"] == kept
    assert len(_rendered_events(container, project_id)) == len(LONG)


async def test_a_deleted_project_gives_up_its_rendered_audio(
    client: Client, container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    from sqlalchemy import select

    from app.projections.tables import media_references
    from domain.media_refs import RELEASED

    worker()
    project_id = _project_with(container, LONG[:2])
    await asyncio.to_thread(wait_for_terminal, container, _submit_render(container, project_id))
    stream = f"studio-{project_id}"
    claims = select(media_references.c.digest).where(media_references.c.stream_id == stream)

    def claimed() -> set[str]:
        with container.engine.connect() as connection:
            return {digest for (digest,) in connection.execute(claims)}

    assert claimed() == {e.data["media"] for e in _rendered_events(container, project_id)}
    await _json(await client.delete(f"{PROJECTS}/{project_id}"), 200)
    assert await asyncio.to_thread(claimed) == {RELEASED}  # the stream claims nothing more
    await _json(await client.get(f"{PROJECTS}/{project_id}"), 404)
    assert all(p["id"] != project_id for p in (await _json(await client.get(PROJECTS), 200))["records"])


async def test_a_voice_its_model_cannot_speak_is_refused_when_sent(
    client: Client, container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()

    async def refused(response: Any, param: str) -> str:
        error = (await _json(response, 400))["error"]
        assert error["param"] == param, error
        return str(error["message"])

    message = await refused(
        await client.post(PROJECTS, json={"name": "x", "text": "Hi.", "voice": "Nobody"}), "voice"
    )
    assert "Nobody" in message and "Piper-Joe-Medium" in message
    segments = [{"text": "One."}, {"text": "Two.", "voice": "Nobody"}]
    await refused(await client.post(PROJECTS, json={"name": "x", "segments": segments}), "segments[1].voice")
    bad_model = [{"text": "One.", "model": "Whisper-Base"}]
    await refused(await client.post(PROJECTS, json={"name": "x", "segments": bad_model}), "segments[0].model")
    assert (await _json(await client.get(PROJECTS), 200))["records"] == []

    project = await _create(client)
    base = f"{PROJECTS}/{project['id']}"
    version = len(container.store.read_stream(f"studio-{project['id']}"))
    await refused(await client.patch(base, json={"voice": "Nobody"}), "voice")
    first = project["segments"][0]["id"]
    await refused(await client.patch(f"{base}/segments/{first}", json={"voice": "Nobody"}), "voice")
    await refused(await client.post(f"{base}/segments", json={"text": "More.", "voice": "Nobody"}), "voice")
    assert len(container.store.read_stream(f"studio-{project['id']}")) == version
    espeak = await _json(await client.patch(base, json={"model": "eSpeak-NG", "voice": "fr"}), 200)
    assert espeak["voice"] == "fr"


def test_a_render_of_a_higher_priority_goes_first_and_the_other_gives_way_between_segments(
    container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    from domain.studio_renders import RenderParams
    from tests.integration.conftest import wait_for_events

    long_id = _project_with(container, LONG)
    urgent_id = _project_with(container, LONG[:2])
    worker()  # one worker thread: one render at a time
    slow = _submit_render(container, long_id)
    wait_for_events(container, slow, lambda e: _progressed(e) >= 2)
    version = len(container.store.read_stream(f"studio-{urgent_id}"))
    params = RenderParams(project_id=urgent_id, project_version=version, model="Piper-Joe-Medium", priority=5)
    urgent = container.jobs.submit(STUDIO_RENDER, params)

    urgent_events = wait_for_terminal(container, urgent)
    slow_events = wait_for_terminal(container, slow)
    assert urgent_events[-1].type == slow_events[-1].type == "render.completed"
    assert urgent_events[-1].position < slow_events[-1].position  # it did not wait for the long one
    deferred = [e for e in slow_events if e.type == "render.deferred"]
    assert len(deferred) == 1 and deferred[0].data["behind"] == urgent.partition("-")[2]
    synthesized = [e.data["detail"]["segment_id"] for e in slow_events if e.type == "render.progressed"]
    assert sorted(synthesized) == sorted(f"s{n}" for n in range(len(LONG)))  # none twice, none lost


async def test_a_queued_render_s_priority_can_be_changed_and_bad_ones_are_refused(
    client: Client, container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    project = await _create(client)
    base = f"{PROJECTS}/{project['id']}/render-jobs"
    job = await _json(await client.post(base, json={"priority": -3}), 202)
    assert job["priority"] == -3 and job["status"] == "queued"  # no worker yet
    raised = await _json(await client.patch(f"{base}/{job['id']}", json={"priority": 7}), 200)
    assert raised["priority"] == 7 and raised["status"] == "queued"
    refused = await _json(await client.patch(f"{base}/{job['id']}", json={"priority": 11}), 400)
    assert refused["error"]["param"] == "priority"
    assert (await _json(await client.post(base, json={"priority": "high"}), 400))["error"][
        "param"
    ] == "priority"
    worker()
    await asyncio.to_thread(wait_for_terminal, container, STUDIO_RENDER.stream_id(job["id"]))
    late = await _json(await client.patch(f"{base}/{job['id']}", json={"priority": 1}), 409)
    assert "completed" in late["error"]["message"]
