"""The HTTP conventions and audit routes, through Quart's test client on a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from app.bootstrap import Container, bootstrap
from app.http.application import create_app
from app.http.bodies import json_object
from app.http.request_body import BodyModel
from app.settings import Settings
from domain.fields import Passed, Reads
from eventstore.base import NO_STREAM, NewEvent
from migrations.api import upgrade
from tests.conftest import NoDispatch, probe_kind
from tests.request_examples import (
    JSON,
    MULTIPART,
    alternatives,
    example,
    is_base64,
    is_file,
    operations,
    required_fields,
    resolve,
)


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    settings = Settings(data_dir=tmp_path / "data", max_concurrent=2)
    upgrade(settings.resolved_database_url)
    built = bootstrap(settings)
    yield built
    built.close()


@pytest.fixture
async def app(container: Container) -> AsyncIterator[Quart]:
    application = create_app(container)

    # Routes that exist only in this test, to exercise the body-reading error paths.
    @application.post("/test/echo")
    async def echo() -> dict[str, Any]:
        return {"received": await json_object()}

    @application.post("/test/submit")
    async def submit() -> dict[str, str]:
        stream_id = await asyncio.to_thread(container.jobs.submit, probe_kind("nobody"))
        return {"stream_id": stream_id}

    @application.post("/test/race")
    async def race() -> dict[str, str]:
        container.store.append("race-1", [NewEvent("race.won")], expected_version=NO_STREAM)
        return {"status": "won"}

    @application.get("/test/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(0.4)
        return {"status": "done"}

    async with application.test_app():
        yield application


@pytest.fixture(autouse=True)
def _no_broker_for_test_jobs(container: Container) -> None:
    # The test job kind has no actor: record jobs without enqueueing them.
    container.jobs.dispatcher = NoDispatch()


async def test_request_ids_are_echoed_or_generated(client: Client) -> None:
    echoed = await client.get("/livez", headers={"x-request-id": "demo-123"})
    assert echoed.headers["x-request-id"] == "demo-123"
    generated = await client.get("/livez")
    assert len(generated.headers["x-request-id"]) == 32
    for hostile in ("has spaces in it", "x" * 200, 'quote"s'):
        response = await client.get("/livez", headers={"x-request-id": hostile})
        assert response.headers["x-request-id"] != hostile
        assert len(response.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "type_"),
    [
        ("GET", "/v1/nothing-here", {}, 404, "not_found_error"),
        ("DELETE", "/livez", {}, 405, "invalid_request_error"),
        ("GET", "/v1/events?limit=abc", {}, 400, "invalid_request_error"),
        ("GET", "/v1/events?until=forever", {}, 400, "invalid_request_error"),
        ("GET", "/v1/streams/probe-missing/events", {}, 404, "not_found_error"),
        (
            "POST",
            "/test/echo",
            {"data": "{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "invalid_request_error",
        ),
        (
            "POST",
            "/test/echo",
            {"data": "[1, 2]", "headers": {"Content-Type": "application/json"}},
            400,
            "invalid_request_error",
        ),
        (
            "POST",
            "/test/echo",
            {"data": "a=b", "headers": {"Content-Type": "text/plain"}},
            415,
            "invalid_request_error",
        ),
        ("POST", "/test/echo", {"data": "{}"}, 415, "invalid_request_error"),
    ],
)
async def test_every_error_uses_the_envelope(
    client: Client, method: str, path: str, kwargs: dict[str, Any], status: int, type_: str
) -> None:
    response = await client.open(path, method=method, **kwargs)
    assert response.status_code == status
    body = await response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == str(status)
    assert body["error"]["type"] == type_
    assert body["error"]["message"]
    assert "param" in body["error"]


async def test_an_oversized_body_is_refused_before_parsing(client: Client, app: Quart) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = await client.post("/test/echo", data=b"x" * 4096, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert (await response.get_json())["error"]["code"] == "413"


async def test_the_request_id_reaches_the_event_metadata(client: Client, container: Container) -> None:
    response = await client.post("/test/submit", headers={"x-request-id": "trace-77"})
    stream_id = (await response.get_json())["stream_id"]
    stored = container.store.read_stream(stream_id)
    assert [e.metadata["request_id"] for e in stored] == ["trace-77", "trace-77"]
    assert stored[0].metadata["correlation_id"] == stream_id


async def test_events_are_paged_with_opaque_cursors(client: Client, container: Container) -> None:
    streams = [container.jobs.submit(probe_kind("nobody")) for _ in range(6)]
    container.jobs.submit(probe_kind("nobody", "other"))
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        query = "/v1/events?limit=5" + (f"&cursor={cursor}" if cursor else "")
        body = await (await client.get(query)).get_json()
        pages += 1
        seen.extend(body["records"])
        assert body["pagination"]["limit"] == 5
        cursor = body["pagination"]["next_cursor"]
        assert body["pagination"]["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert pages == 3
    assert [e["position"] for e in seen] == list(range(1, 15))

    by_category = await (await client.get("/v1/events?category=probe&limit=500")).get_json()
    assert len(by_category["records"]) == 12
    by_type = await (await client.get("/v1/events?type=probe.queued,other.queued")).get_json()
    assert [e["type"] for e in by_type["records"]] == ["probe.queued"] * 6 + ["other.queued"]
    after = await (await client.get("/v1/events?after=12")).get_json()
    assert [e["position"] for e in after["records"]] == [13, 14]
    one = await (await client.get(f"/v1/streams/{streams[2]}/events")).get_json()
    assert [e["type"] for e in one["records"]] == ["probe.requested", "probe.queued"]
    assert one["records"][0]["stream_id"] == streams[2]
    assert one["records"][0]["recorded_at"].endswith("+00:00")


async def test_readiness_needs_a_beating_worker(client: Client, container: Container) -> None:
    not_ready = await client.get("/readyz")
    assert not_ready.status_code == 503
    body = await not_ready.get_json()
    assert body["error"]["code"] == "503" and body["checks"]["workers"]["ok"] is False
    assert body["checks"]["migrations"]["ok"] is True

    container.workers.register("worker-under-test", ["default"])
    for path in ("/readyz", "/v1/ready", "/internal/ready"):
        assert (await client.get(path)).status_code == 200
    health = await (await client.get("/v1/health")).get_json()
    assert health["status"] == "ok"
    assert health["workers"]["alive"] == 1
    assert health["database"]["backend"] == "sqlite"
    assert health["broker"]["kind"] == "sqlite"
    container.workers.stopped("worker-under-test")
    assert (await client.get("/readyz")).status_code == 503


async def test_the_concurrency_limit_answers_503_but_never_for_probes(client: Client) -> None:
    responses = await asyncio.gather(*(client.get("/test/slow") for _ in range(4)), client.get("/livez"))
    statuses = sorted(r.status_code for r in responses[:4])
    assert statuses == [200, 200, 503, 503]
    busy = next(r for r in responses[:4] if r.status_code == 503)
    assert (await busy.get_json())["error"]["code"] == "503"
    assert responses[4].status_code == 200


async def test_openapi_and_offline_docs(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    assert "/v1/events" in spec["paths"] and "/v1/streams/{stream_id}/events" in spec["paths"]
    docs = await (await client.get("/docs")).get_data(as_text=True)
    assert "/docs/static/swagger-ui-bundle.js" in docs
    # A complete HTML document: a doctype, and one <html> element holding a head and a body.
    assert docs.lstrip().lower().startswith("<!doctype html>")
    assert docs.count("<html") == 1 and "<head>" in docs and "<body>" in docs
    assert docs.rstrip().endswith("</html>")
    assert (await client.get("/docs/static/swagger-ui-bundle.js")).status_code == 200


async def test_a_concurrent_change_answers_409_with_the_envelope(client: Client) -> None:
    assert (await client.post("/test/race")).status_code == 200
    lost = await client.post("/test/race")
    assert lost.status_code == 409
    body = await lost.get_json()
    assert body["error"]["code"] == "409"
    assert "race-1 was changed by another request" in body["error"]["message"]


# Operations that take no body: what they act on is named by their path.
BODILESS = {
    "POST /v1/admin/models/{variant}/download",
    "POST /v1/admin/models/{variant}/download/cancel",
    "POST /v1/admin/models/{variant}/load",
    "POST /v1/admin/models/{variant}/unload",
    "POST /v1/responses/{response_id}/cancel",
    "POST /v1/speech-to-text/jobs/{record_id}/cancel",
    "POST /v1/speech-to-text/jobs/{record_id}/reruns",
    "POST /v1/diarizations/{record_id}/cancel",
    "POST /v1/diarizations/{record_id}/reruns",
    "POST /v1/onboarding/complete",
    "POST /v1/studio/projects/{project_id}/segments/{segment_id}/merge-next",
    "POST /v1/studio/projects/{project_id}/segments/{segment_id}/render",
    "POST /v1/studio/projects/{project_id}/snapshots/{snapshot_id}/restore",
    "POST /v1/voice/sessions/{session_id}/end",
}
# Audio uploads: a multipart form with the audio as a file part, or JSON with it in base64.
UPLOADS = {
    "POST /v1/audio/transcriptions",
    "POST /v1/audio/align",
    "POST /v1/speech-to-text/jobs",
    "POST /v1/voice/sessions/{session_id}/turns",
    "POST /v1/diarizations",
    "POST /v1/voices",
    "POST /v1/text-to-speech",
    "POST /v1/voice-designs",
    "POST /v1/voice-clones",
}


async def test_every_operation_that_takes_a_body_documents_it(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    served = [op for op in operations(spec) if not op.path.startswith("/test/")]
    assert {op.name for op in served if "requestBody" not in op.operation} == BODILESS
    documented = [op for op in served if "requestBody" in op.operation]
    assert len(documented) == 43
    for op in documented:
        content = op.operation["requestBody"]["content"]
        assert set(content) == ({JSON, MULTIPART} if op.name in UPLOADS else {JSON}), op.name
        for content_type, media in content.items():
            schema = resolve(spec, media["schema"])
            properties = schema["properties"]
            # Everything a client must send is a documented field, with an example to start from.
            for group in alternatives(schema):
                assert all(name in properties for alt in group for name in alt), (op.name, group)
            for name in required_fields(schema):
                prop = properties[name]
                assert is_file(prop) or is_base64(prop) or example(prop) is not None, (op.name, name)
            for name in schema.get("required", ()):
                prop = properties[name]
                assert "default" not in prop and {"type": "null"} not in prop.get("anyOf", []), (
                    op.name,
                    name,
                )
            if content_type == MULTIPART:
                assert is_file(properties["file"]) and is_file(properties["audio"]), op.name
            else:
                assert not any(is_file(prop) for prop in properties.values()), op.name


async def test_the_upload_schemas_name_the_audio_and_its_alternatives(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    body = spec["paths"]["/v1/audio/transcriptions"]["post"]["requestBody"]["content"]
    form = resolve(spec, body[MULTIPART]["schema"])
    assert alternatives(form) == [[["file"], ["audio"], ["audio_base64"]]]
    assert "timestamp_granularities[]" in form["properties"]
    assert resolve(spec, body[JSON]["schema"])["required"] == ["audio_base64"]
    assert form["properties"]["response_format"]["enum"] == ["json", "verbose_json", "text", "srt", "vtt"]
    clones = spec["paths"]["/v1/voice-clones"]["post"]["requestBody"]["content"]
    clone_form = resolve(spec, clones[MULTIPART]["schema"])
    assert is_file(clone_form["properties"]["reference_audio"])
    assert alternatives(clone_form) == [[["reference_audio", "reference_text"], ["saved_voice_id"]]]
    designs = resolve(
        spec, spec["paths"]["/v1/voice-designs"]["post"]["requestBody"]["content"][JSON]["schema"]
    )
    assert designs["required"] == ["input", "instructions"]
    summary = spec["paths"]["/v1/speech-to-text/jobs/{record_id}/summary/regenerate"]["post"]["requestBody"]
    assert summary["required"] is False


def test_every_body_field_is_read_by_a_field_reader_or_passed_to_the_route(app: Quart) -> None:
    """No field is left to pydantic's own checks, whose messages are not the routes'."""
    models = {
        getattr(view, "_quart_schema_request_schema", (None,))[0] for view in app.view_functions.values()
    }
    bodies = [model for model in models if isinstance(model, type) and issubclass(model, BodyModel)]
    assert len(bodies) == 37
    assert len({model.__name__ for model in bodies}) == len(bodies)  # OpenAPI names a schema by it
    for model in bodies:
        checked = {
            name for d in model.__pydantic_decorators__.field_validators.values() for name in d.info.fields
        }
        for name, info in model.model_fields.items():
            marked = any(isinstance(meta, Reads) or meta is Passed for meta in info.metadata)
            assert marked or name in checked, f"{model.__name__}.{name}"
