"""A client that knows only ``/openapi.json``: for every documented request body, in each of its
encodings, the request made of its required fields and their example values is accepted by a
real ``sauti serve`` on the bundled models.

The cheapest inputs: 4 s of JFK as the audio of every audio field, a 4-token budget where a body
has one, and SmolLM2 for the summary (the default chat model would be assembled and loaded for
that one call). The voice design and voice clone families have no installed model: their example
bodies are accepted up to the choice of a model (the 400 names `model`)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import JFK
from tests.e2e.conftest import wait_until
from tests.request_examples import Operation, example_request, operations
from workers.engines.audio import decode_audio, encode_audio

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SLOW = httpx.Timeout(10.0, read=180.0)
SAMPLE_RATE = 16_000
CHEAP = {"max_tokens": 4, "max_output_tokens": 4}
SMALL_CHAT = {"model": "SmolLM2-135M-Instruct-GGUF"}
NO_MODEL_INSTALLED = {"POST /v1/voice-designs", "POST /v1/voice-clones"}
MEMBER = re.compile(r"^(?P<base>.+)/\{record_id\}")
STUDIO_PROJECTS = "/v1/studio/projects"
STUDIO_SCHEDULES = "/v1/studio/schedules"
CHAT_THREADS = "/v1/chat/threads"
AGENT_SESSIONS = "/v1/agent/sessions"
VOICE_SESSIONS = "/v1/voice/sessions"
STUDIO_TEXT = "A first paragraph of the example project.\n\nAnd a second one."


@pytest.fixture(scope="module")
def audio() -> bytes:
    """The first 4 s of JFK ("And so my fellow Americans") as a 16 kHz WAV."""
    return encode_audio(decode_audio(JFK)[: 4 * SAMPLE_RATE], SAMPLE_RATE, "wav")


def ready(api: httpx.Client, base: str, record_id: str) -> None:
    def done() -> bool:
        record = api.get(f"{base}/{record_id}").json()
        assert record["processing_status"] not in ("failed", "cancelled"), record
        return bool(record["processing_status"] == "ready")

    wait_until(done, 180, f"{base}/{record_id} to be ready", interval=0.5)


def test_the_example_body_of_every_documented_operation_is_accepted(api: httpx.Client, audio: bytes) -> None:
    spec = api.get("/openapi.json").json()
    documented = [op for op in operations(spec) if "requestBody" in op.operation]
    # Collections first: the member operations edit a record created here.
    documented.sort(key=lambda op: "{" in op.path)
    created: dict[str, list[str]] = {}
    cleanup: list[str] = []
    tried: list[str] = []
    try:
        for op in documented:
            for content_type, media in op.operation["requestBody"]["content"].items():
                response = _send(api, spec, op, content_type, media["schema"], audio, created)
                tried.append(f"{op.name} {content_type}")
                if op.name in NO_MODEL_INSTALLED:
                    assert response.status_code == 400, response.text
                    assert response.json()["error"]["param"] == "model", response.text
                    continue
                assert response.status_code < 400, f"{op.name} ({content_type}): {response.text}"
                location = response.headers.get("location")
                if location:
                    cleanup.append(location)
                    if op.method == "post" and "{" not in op.path:
                        created.setdefault(op.path, []).append(location.rsplit("/", 1)[1])
    finally:
        for location in cleanup:
            api.delete(location)
    assert len(tried) == 52, tried  # 43 operations, 9 of them in two encodings


def _send(
    api: httpx.Client,
    spec: dict[str, Any],
    op: Operation,
    content_type: str,
    schema: dict[str, Any],
    audio: bytes,
    created: dict[str, list[str]],
) -> httpx.Response:
    path = op.path
    also = dict(CHEAP)
    member = MEMBER.match(path)
    if member:
        base = member["base"]
        assert created.get(base), f"{op.name}: no record was created by POST {base}"
        record_id = created[base][0]
        ready(api, base, record_id)
        path = path.replace("{record_id}", record_id)
        if path.endswith("/summary/regenerate"):
            also.update(SMALL_CHAT)
    given: dict[str, Any] = {}
    if path.startswith(STUDIO_PROJECTS):
        also["text"] = STUDIO_TEXT
        path = _studio_path(api, path, created, given)
    if path.startswith(STUDIO_SCHEDULES):
        given["project_id"] = created[STUDIO_PROJECTS][0]
        if "{schedule_id}" in path:
            path = path.replace("{schedule_id}", created[STUDIO_SCHEDULES][0])
    if path == AGENT_SESSIONS:
        given["model_id"] = SMALL_CHAT["model"]
    for sessions in (AGENT_SESSIONS, VOICE_SESSIONS):
        if path.startswith(sessions + "/{session_id}"):
            path = path.replace("{session_id}", created[sessions][0])
    if "{thread_id}" in path:
        path = path.replace("{thread_id}", created[CHAT_THREADS][0])
        also.update(SMALL_CHAT)
    assert "{" not in path, f"{op.name}: no value for its path parameters"
    request = example_request(spec, content_type, schema, audio, also)
    request.fields.update(given)
    return api.request(op.method.upper(), path, timeout=SLOW, **request.httpx_kwargs())


def _studio_path(api: httpx.Client, path: str, created: dict[str, list[str]], given: dict[str, Any]) -> str:
    """A Studio member path with the example project's ids, and the body fields that must name
    its segments (``given``, over the documented examples)."""
    if "{project_id}" not in path:
        return path
    project_id = created[STUDIO_PROJECTS][0]
    ids = [segment["id"] for segment in api.get(f"{STUDIO_PROJECTS}/{project_id}").json()["segments"]]
    path = path.replace("{project_id}", project_id).replace("{segment_id}", ids[0])
    if "{job_id}" in path:
        job = api.post(f"{STUDIO_PROJECTS}/{project_id}/render-jobs", json={}).json()
        path = path.replace("{job_id}", job["id"])
        given["status"] = "cancelled"
    if path.endswith("/segments/reorder"):
        given["segment_ids"] = ids[::-1]
    if path.endswith("/segments/bulk-delete"):
        given["segment_ids"] = ids[-1:]
    return path
