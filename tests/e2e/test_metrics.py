"""Metrics of a real ``sauti serve`` while real worker processes run jobs: the numbers move, and the
Prometheus text parses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import alive_workers, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ESPEAK = "eSpeak-NG"
SLOW = httpx.Timeout(10.0, read=120.0)
JOBS = 3

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def prometheus(api: httpx.Client) -> Samples:
    response = api.get("/v1/metrics/prometheus")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (n, have), value in samples.items() if n == name and wanted <= set(have))


def speech_duration(body: dict[str, Any]) -> dict[str, Any] | None:
    for series in body["jobs"]["duration_seconds"]:
        if series["kind"] == "speech" and series["model"] == ESPEAK:
            return series
    return None


def test_metrics_move_while_jobs_run(api: httpx.Client) -> None:
    wait_until(lambda: alive_workers(api), 30, "an alive worker")
    before_text = prometheus(api)
    before = api.get("/v1/metrics").json()

    for n in range(JOBS):
        response = api.post(
            "/v1/audio/speech",
            json={"model": ESPEAK, "input": f"Metrics test number {n}.", "response_format": "wav"},
            timeout=SLOW,
        )
        assert response.status_code == 200, response.text

    after_text = prometheus(api)
    # Requests: the speech calls, and the scrapes in between, were counted per URL rule.
    speech = {"route": "/v1/audio/speech", "method": "POST", "status": "200"}
    assert total(after_text, "sauti_http_requests_total", **speech) == (
        total(before_text, "sauti_http_requests_total", **speech) + JOBS
    )
    assert total(after_text, "sauti_http_request_duration_seconds_count", **speech) >= JOBS
    # Jobs: completed speech jobs, and their duration histogram per engine and model.
    completed = {"kind": "speech", "status": "completed"}
    assert (
        total(after_text, "sauti_jobs", **completed) == total(before_text, "sauti_jobs", **completed) + JOBS
    )
    timing = {"kind": "speech", "engine": "espeak", "model": ESPEAK}
    assert total(after_text, "sauti_job_duration_seconds_count", **timing) == (
        total(before_text, "sauti_job_duration_seconds_count", **timing) + JOBS
    )
    assert total(after_text, "sauti_job_real_time_factor_count", **timing) == (
        total(before_text, "sauti_job_real_time_factor_count", **timing) + JOBS
    )
    # The event store: the head moved, and the web process's appends (the requests) were timed.
    head = "sauti_eventstore_head_position"
    assert total(after_text, head) > total(before_text, head)
    web_appends = "sauti_eventstore_append_seconds_count"
    assert total(after_text, web_appends, role="web") >= total(before_text, web_appends, role="web") + JOBS
    assert total(after_text, "sauti_workers_alive") >= 1

    # The workers' own appends (started, chunks, completed) arrive with their next heartbeats.
    def worker_appends_grew() -> bool:
        now = prometheus(api)
        return (
            total(now, web_appends, role="workers") >= total(before_text, web_appends, role="workers") + JOBS
        )

    wait_until(worker_appends_grew, 15, "the workers' appends in their heartbeats")

    # The eSpeak model is loaded in the worker that ran the jobs, as its heartbeat says.
    def espeak_loaded() -> list[dict[str, Any]]:
        processes = api.get("/v1/metrics").json()["workers"]["processes"]
        return [p for p in processes if ESPEAK in p["models_loaded"]]

    wait_until(espeak_loaded, 15, "a worker reporting eSpeak-NG loaded")

    after = api.get("/v1/metrics").json()
    assert after["event_store"]["head_position"] > before["event_store"]["head_position"]
    grown = speech_duration(after)
    assert grown is not None
    previous = speech_duration(before)
    assert grown["count"] == (previous["count"] if previous else 0) + JOBS
    assert grown["engine"] == "espeak" and grown["sum"] > 0
    assert sum(r["count"] for r in after["http"]["requests"]) > sum(
        r["count"] for r in before["http"]["requests"]
    )
    queues = after["queues"]
    assert queues["broker"] == "sqlite"
    assert any(q["queue"] == "default" for q in queues["queues"])
    assert after["sse"]["subscribers"] == 0
