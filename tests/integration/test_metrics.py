"""``/v1/metrics`` and ``/v1/metrics/prometheus`` through Quart's test client on a real database:
requests per route, jobs and their timings from the read models, queues, appends, workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from prometheus_client.parser import text_string_to_metric_families
from quart.typing import TestClientProtocol as Client

from app.bootstrap import Container, bootstrap
from app.settings import Settings
from domain.jobs import JOB_STATUSES
from domain.kinds import KINDS
from domain.telemetry import APPEND_SECONDS, Histogram
from migrations.api import upgrade
from tests.conftest import NoDispatch, probe_kind
from workers.heartbeat import WorkerMetrics
from workflows.jobs import JobRun

PROBE = probe_kind("nobody")


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    settings = Settings(data_dir=tmp_path / "data")
    upgrade(settings.resolved_database_url)
    built = bootstrap(settings)
    built.jobs.dispatcher = NoDispatch()  # the probe kind has no actor
    yield built
    built.close()


def completed_job(container: Container, result: dict[str, Any], model: str = "Whisper-Tiny.en") -> str:
    stream_id = container.jobs.submit(PROBE, {"model": model})
    run = JobRun(container.store, stream_id, message_id="m-1", worker="w-1")
    assert run.begin()
    run.complete(result)
    return stream_id


async def snapshot(client: Client) -> dict[str, Any]:
    response = await client.get("/v1/metrics")
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


def request_count(body: dict[str, Any], route: str, status: int) -> int:
    return sum(r["count"] for r in body["http"]["requests"] if r["route"] == route and r["status"] == status)


async def test_requests_are_counted_per_url_rule_and_status(client: Client) -> None:
    for _ in range(3):
        assert (await client.get("/livez")).status_code == 200
    await client.get("/v1/streams/probe-a/events")
    await client.get("/v1/streams/probe-b/events")
    await client.get("/v1/no-such-route")
    body = await snapshot(client)
    assert request_count(body, "/livez", 200) == 3
    # The rule, not the raw path: both streams are one series.
    assert request_count(body, "/v1/streams/<stream_id>/events", 404) == 2
    assert request_count(body, "<unmatched>", 404) == 1
    series = next(r for r in body["http"]["requests"] if r["route"] == "/livez")
    assert series["method"] == "GET"
    assert series["duration_seconds"]["count"] == 3
    assert series["duration_seconds"]["buckets"]["+Inf"] == 3
    # The scrape itself is counted once it has answered: the next scrape shows it.
    again = await snapshot(client)
    assert request_count(again, "/v1/metrics", 200) == request_count(body, "/v1/metrics", 200) + 1


async def test_jobs_by_kind_and_status_and_their_timings(client: Client, container: Container) -> None:
    before = await snapshot(client)
    # Every declared kind appears with every status, at 0 where none.
    listed = {(j["kind"], j["status"]) for j in before["jobs"]["by_kind_status"]}
    assert {(k.name, s) for k in KINDS for s in JOB_STATUSES.values()} <= listed

    completed_job(container, {"duration": 10.0, "processing_time_ms": 2500.0})
    completed_job(container, {"audio_duration_secs": 4.0, "generation_time_ms": 400.0})
    completed_job(container, {"text": "no audio here"})
    container.jobs.submit(PROBE, {"model": "Whisper-Tiny.en"})  # still queued
    body = await snapshot(client)
    counts = {(j["kind"], j["status"]): j["count"] for j in body["jobs"]["by_kind_status"]}
    assert counts[("probe", "completed")] == 3
    assert counts[("probe", "queued")] == 1

    (duration,) = body["jobs"]["duration_seconds"]
    assert (duration["kind"], duration["engine"], duration["model"]) == (
        "probe",
        "whisper",
        "Whisper-Tiny.en",
    )
    assert duration["count"] == 3 and duration["buckets"]["+Inf"] == 3
    assert 0 <= duration["sum"] < 5
    (rtf,) = body["jobs"]["real_time_factor"]
    assert rtf["count"] == 2  # the result without audio has no real-time factor
    assert rtf["sum"] == pytest.approx(0.25 + 0.1)
    assert rtf["buckets"]["0.1"] == 1 and rtf["buckets"]["0.25"] == 2

    # The timings are a read model: a rebuild from the events makes the same histograms.
    container.projections.rebuild(container.store)
    rebuilt = await snapshot(client)
    assert rebuilt["jobs"]["real_time_factor"] == body["jobs"]["real_time_factor"]
    assert rebuilt["jobs"]["duration_seconds"] == body["jobs"]["duration_seconds"]


async def test_head_position_and_append_latency_grow(client: Client, container: Container) -> None:
    before = await snapshot(client)
    completed_job(container, {})
    after = await snapshot(client)
    store = after["event_store"]
    assert store["head_position"] == container.store.last_position() > before["event_store"]["head_position"]
    web = store["append_seconds"]["web"]
    # submit (requested + queued), started, completed: three write transactions that appended.
    assert web["count"] == before["event_store"]["append_seconds"]["web"]["count"] + 3
    assert web["sum"] > 0


async def test_queues_and_workers(client: Client, container: Container) -> None:
    broker = container.broker
    broker.enqueue(dramatiq.Message(queue_name="default", actor_name="x", args=(), kwargs={}, options={}))
    broker.enqueue(
        dramatiq.Message(queue_name="default", actor_name="x", args=(), kwargs={}, options={}), delay=60_000
    )
    container.workers.register("worker-a", ["default"])
    histogram = Histogram(APPEND_SECONDS)
    histogram.observe(0.002)
    histogram.observe(0.004)
    container.workers.beat(
        "worker-a", WorkerMetrics(append_seconds=histogram.snapshot(), models_loaded=("Whisper-Tiny.en",))
    )
    body = await snapshot(client)
    assert body["queues"]["broker"] == "sqlite"
    default = next(q for q in body["queues"]["queues"] if q["queue"] == "default")
    assert (default["ready"], default["delayed"], default["in_flight"], default["dead"]) == (1, 1, 0, 0)
    assert 0 <= default["oldest_message_age_secs"] < 60
    assert body["workers"]["alive"] == 1
    (worker,) = body["workers"]["processes"]
    assert worker["worker_id"] == "worker-a" and worker["models_loaded"] == ["Whisper-Tiny.en"]
    workers = body["event_store"]["append_seconds"]["workers"]
    assert workers["count"] == 2 and workers["sum"] == pytest.approx(0.006)

    # A stopped worker is no longer listed, but its appends still count (totals never drop).
    container.workers.stopped("worker-a")
    body = await snapshot(client)
    assert body["workers"]["alive"] == 0
    assert body["event_store"]["append_seconds"]["workers"]["count"] == 2


async def test_prometheus_text_and_the_internal_aliases(client: Client, container: Container) -> None:
    completed_job(container, {"duration": 2.0, "processing_time_ms": 100.0})
    await client.get("/livez")
    response = await client.get("/v1/metrics/prometheus")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = await response.get_data(as_text=True)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }
    assert (
        samples[("sauti_http_requests_total", (("method", "GET"), ("route", "/livez"), ("status", "200")))]
        == 1
    )
    assert samples[("sauti_jobs", (("kind", "probe"), ("status", "completed")))] == 1
    timing = (("engine", "whisper"), ("kind", "probe"), ("model", "Whisper-Tiny.en"))
    assert samples[("sauti_job_duration_seconds_count", timing)] == 1
    assert samples[("sauti_job_real_time_factor_sum", timing)] == pytest.approx(0.05)
    assert samples[("sauti_eventstore_head_position", ())] == container.store.last_position()
    assert samples[("sauti_eventstore_append_seconds_count", (("role", "web"),))] >= 3
    assert ("sauti_queue_messages", (("queue", "default"), ("state", "ready"))) in samples
    assert samples[("sauti_sse_subscribers", ())] == 0
    assert families["sauti_http_request_duration_seconds"].type == "histogram"

    for path in ("/internal/metrics", "/internal/metrics/prometheus"):
        assert (await client.get(path)).status_code == 200
    spec = await (await client.get("/openapi.json")).get_json()
    assert {"/v1/metrics", "/v1/metrics/prometheus", "/internal/metrics"} <= set(spec["paths"])
    assert (await (await client.get("/internal/metrics")).get_json())["object"] == "metrics"


async def test_open_sse_streams_are_counted(client: Client, container: Container) -> None:
    stream_id = container.jobs.submit(PROBE, {})
    async with client.request(
        f"/v1/streams/{stream_id}/events", headers={"Accept": "text/event-stream"}
    ) as connection:
        await connection.send_complete()
        await connection.receive()  # the stream has started: its first frame
        deadline = time.monotonic() + 5
        while (await snapshot(client))["sse"]["subscribers"] != 1:
            assert time.monotonic() < deadline, "the open stream was never counted"
        await connection.disconnect()
    deadline = time.monotonic() + 5
    while (await snapshot(client))["sse"]["subscribers"] != 0:
        assert time.monotonic() < deadline, "the closed stream is still counted"
