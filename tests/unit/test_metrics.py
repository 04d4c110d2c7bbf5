"""The pure parts of the metrics: histograms, real-time factors, request series, job counts, queue
ages, worker reports, and the Prometheus text of a snapshot."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics.prometheus import render
from app.metrics.requests import UNMATCHED, RequestMetrics
from app.metrics.snapshot import JobTiming, MetricsSnapshot, ProcessGauges, WorkerSnapshot, job_counts
from domain.jobs import JOB_STATUSES
from domain.kinds import KINDS
from domain.telemetry import (
    Histogram,
    HistogramSnapshot,
    bucket_for,
    bucket_label,
    merge_all,
    real_time_factor,
)
from workers.heartbeat import WorkerMetrics, metrics_report
from workers.queue_metrics import QueueDepth

BOUNDS = (0.1, 1.0, 10.0)


def test_a_histogram_counts_each_value_in_its_first_bucket_that_holds_it() -> None:
    histogram = Histogram(BOUNDS)
    for value in (0.05, 0.1, 0.5, 10.0, 11.0):
        histogram.observe(value)
    snapshot = histogram.snapshot()
    assert snapshot.counts == (2, 1, 1, 1)
    assert snapshot.count == 5 and snapshot.sum == pytest.approx(21.65)
    assert snapshot.cumulative() == [("0.1", 2), ("1.0", 3), ("10.0", 4), ("+Inf", 5)]
    assert snapshot.to_json() == {
        "count": 5,
        "sum": 21.65,
        "buckets": {"0.1": 2, "1.0": 3, "10.0": 4, "+Inf": 5},
    }
    assert [bucket_for(BOUNDS, v) for v in (0.1, 0.11, 99.0)] == ["0.1", "1.0", "+Inf"]
    assert bucket_label(math.inf) == "+Inf" and bucket_label(5) == "5.0"


def test_snapshots_add_up_and_travel_as_json() -> None:
    a, b = Histogram(BOUNDS), Histogram(BOUNDS)
    a.observe(0.5)
    b.observe(0.5)
    b.observe(50.0)
    merged = merge_all(BOUNDS, [a.snapshot(), b.snapshot()])
    assert merged.counts == (0, 2, 0, 1) and merged.sum == pytest.approx(51.0)
    assert merge_all(BOUNDS, []) == HistogramSnapshot.empty(BOUNDS)
    assert HistogramSnapshot.model_validate_json(merged.model_dump_json()) == merged
    with pytest.raises(ValueError, match="different buckets"):
        merged.merged(HistogramSnapshot.empty((1.0,)))
    # From a table's rows, keyed by label; a label the buckets no longer have counts as +Inf.
    stored = HistogramSnapshot.from_labelled(BOUNDS, {"1.0": 2, "+Inf": 1, "0.75": 1}, 12.0)
    assert stored.counts == (0, 2, 0, 2) and stored.sum == 12.0


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"duration": 10.0, "processing_time_ms": 2500.0}, 0.25),  # transcription, alignment
        ({"audio_duration_secs": 2.0, "generation_time_ms": 100.0, "rtf": 0.05}, 0.05),  # speech
        ({"duration": 0.0, "processing_time_ms": 10.0}, None),
        ({"duration": 3.0}, None),
        ({"duration": True, "processing_time_ms": 5.0}, None),
        ({"text": "a chat answer"}, None),
    ],
)
def test_the_real_time_factor_of_a_result(result: dict[str, object], expected: float | None) -> None:
    assert real_time_factor(result) == (pytest.approx(expected) if expected is not None else None)


def test_requests_are_series_per_method_rule_and_status() -> None:
    metrics = RequestMetrics()
    metrics.observe("GET", "/v1/records/<record_id>", 200, 0.01)
    metrics.observe("GET", "/v1/records/<record_id>", 200, 0.02)
    metrics.observe("GET", None, 404, 0.001)
    series = {(s.key.method, s.key.route, s.key.status): s.seconds.count for s in metrics.series()}
    assert series == {("GET", "/v1/records/<record_id>", 200): 2, ("GET", UNMATCHED, 404): 1}


def test_job_counts_list_every_declared_kind_and_status() -> None:
    kind = next(iter(KINDS))
    counts = job_counts([(kind.category, "completed", 4), ("probe", "queued", 1)])
    found = {(c.kind, c.status): c.count for c in counts}
    assert found[(kind.name, "completed")] == 4
    assert found[("probe", "queued")] == 1  # a category no declared kind owns keeps its name
    assert all(found[(k.name, s)] >= 0 for k in KINDS for s in JOB_STATUSES.values())
    assert len(found) == len(list(KINDS)) * len(JOB_STATUSES) + 1


def test_the_age_of_a_queue_s_oldest_message() -> None:
    assert QueueDepth("q", ready=2, oldest_enqueued_at=100.0).oldest_age(130.0) == 30.0
    assert QueueDepth("q", ready=0).oldest_age(130.0) == 0.0
    assert QueueDepth("q", ready=3).oldest_age(130.0) is None  # a broker that cannot tell


def test_a_worker_reports_its_appends_and_models() -> None:
    appends = Histogram(BOUNDS)
    appends.observe(0.2)

    class Engines:
        def loaded(self) -> list[str]:
            return ["Whisper-Tiny.en"]

    report = metrics_report(appends, Engines())()
    assert report.models_loaded == ("Whisper-Tiny.en",) and report.append_seconds.count == 1
    assert WorkerMetrics.parse(report.model_dump_json()) == report
    assert WorkerMetrics.parse(None) is None and WorkerMetrics.parse('{"other": 1}') is None


def test_a_snapshot_renders_as_prometheus_text() -> None:
    requests = RequestMetrics()
    requests.observe("POST", "/v1/audio/speech", 200, 0.3)
    appends = Histogram(BOUNDS)
    appends.observe(0.01)
    rtf = Histogram(BOUNDS)
    rtf.observe(0.05)
    snapshot = MetricsSnapshot(
        generated_at=1000.0,
        web=ProcessGauges(12.5, requests.series(), appends.snapshot(), sse_streams=2, hub_subscriptions=3),
        jobs=job_counts([("speech", "completed", 7)]),
        job_timings=[JobTiming("speech", "espeak", "eSpeak-NG", "real_time_factor", rtf.snapshot())],
        broker="sqlite",
        queues=[QueueDepth("default", ready=1, delayed=0, in_flight=2, dead=None, oldest_enqueued_at=990.0)],
        head_position=42,
        workers_append_seconds=appends.snapshot(),
        workers=[WorkerSnapshot("w-1", "host", 7, ("eSpeak-NG", "Whisper-Tiny.en"))],
    )
    text = render(snapshot).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    value = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    labels = (("method", "POST"), ("route", "/v1/audio/speech"), ("status", "200"))
    assert value[("sauti_http_requests_total", labels)] == 1
    bucket = "sauti_http_request_duration_seconds_bucket"
    assert value[(bucket, tuple(sorted((*labels, ("le", "0.5")))))] == 1  # 0.3 s
    assert value[(bucket, tuple(sorted((*labels, ("le", "0.25")))))] == 0
    assert value[("sauti_jobs", (("kind", "speech"), ("status", "completed")))] == 7
    timing = (("engine", "espeak"), ("kind", "speech"), ("model", "eSpeak-NG"))
    assert value[("sauti_job_real_time_factor_count", timing)] == 1
    assert value[("sauti_queue_messages", (("queue", "default"), ("state", "in_flight")))] == 2
    assert ("sauti_queue_messages", (("queue", "default"), ("state", "dead"))) not in value  # unknown
    assert value[("sauti_queue_oldest_message_age_seconds", (("queue", "default"),))] == 10.0
    assert value[("sauti_eventstore_head_position", ())] == 42
    assert value[("sauti_eventstore_append_seconds_count", (("role", "workers"),))] == 1
    assert value[("sauti_worker_models_loaded", (("hostname", "host"), ("worker", "w-1")))] == 2
    assert value[("sauti_sse_subscribers", ())] == 2
    assert value[("sauti_event_hub_subscriptions", ())] == 3
    assert families["sauti_job_duration_seconds"].type == "histogram"
    # The JSON snapshot says the same.
    body = snapshot.to_json()
    assert body["event_store"]["head_position"] == 42
    assert body["queues"]["queues"][0]["oldest_message_age_secs"] == 10.0
    assert body["jobs"]["real_time_factor"][0]["count"] == 1 and body["jobs"]["duration_seconds"] == []
