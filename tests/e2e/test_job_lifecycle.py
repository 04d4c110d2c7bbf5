"""The generic job lifecycle through a real server: SSE following, a worker killed mid-job,
and SSE resumption with ``Last-Event-ID``."""

from __future__ import annotations

import os
import signal
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    JobSubmitter,
    SautiServer,
    SSEReader,
    alive_workers,
    event_types,
    read_sse,
    stream_events,
    wait_for_events,
    wait_for_terminal,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def _lifecycle(steps: int) -> list[str]:
    return [
        "probe.requested",
        "probe.queued",
        "probe.started",
        *["probe.progressed"] * steps,
        "probe.completed",
    ]


def _assert_well_formed(events: list[dict[str, Any]], stream_id: str) -> None:
    """One stream's events: ours, unique ids, versions 1..N, positions strictly increasing."""
    assert all(event["stream_id"] == stream_id for event in events)
    ids = [event["event_id"] for event in events]
    assert len(ids) == len(set(ids)), f"duplicate event ids: {[i for i, n in Counter(ids).items() if n > 1]}"
    assert [event["version"] for event in events] == list(range(1, len(events) + 1))
    positions = [event["position"] for event in events]
    assert positions == sorted(set(positions)), positions
    for event in events:
        assert set(event) >= {
            "event_id",
            "stream_id",
            "version",
            "position",
            "type",
            "data",
            "metadata",
            "recorded_at",
        }


def _all_events_paged(api: httpx.Client, stream_id: str, limit: int) -> list[dict[str, Any]]:
    """`GET /v1/events?stream=` in small pages, following `next_cursor`."""
    records: list[dict[str, Any]] = []
    params: dict[str, Any] = {"stream": stream_id, "limit": limit}
    for _ in range(100):
        response = api.get("/v1/events", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["object"] == "list"
        assert body["pagination"]["limit"] == limit
        assert len(body["records"]) <= limit
        records.extend(body["records"])
        if not body["pagination"]["has_more"]:
            assert body["pagination"]["next_cursor"] is None
            return records
        params = {"stream": stream_id, "limit": limit, "cursor": body["pagination"]["next_cursor"]}
    raise AssertionError("pagination never ended")


def test_lifecycle_over_json(api: httpx.Client, sauti_server: SautiServer, jobs: JobSubmitter) -> None:
    """The same lifecycle read by polling the JSON views (independent of SSE)."""
    steps = 5
    stream_id = jobs.probe(sauti_server.data_dir, steps=steps, step_seconds=0.1)
    events = wait_for_terminal(api, stream_id, timeout=60)
    assert event_types(events) == _lifecycle(steps)
    _assert_well_formed(events, stream_id)
    assert [e["data"]["step"] for e in events if e["type"] == "probe.progressed"] == [
        f"step-{i}" for i in range(steps)
    ]
    assert events[2]["data"]["attempt"] == 1
    assert events[-1]["data"]["result"] == {"steps": steps}
    assert _all_events_paged(api, stream_id, limit=2) == events
    assert _all_events_paged(api, stream_id, limit=500) == events
    for event in events:
        assert event["metadata"]["correlation_id"] == stream_id, event
        assert "request_id" not in event["metadata"]
    worker_events = [e for e in events if e["version"] > 2]
    assert {e["metadata"]["causation_id"] for e in worker_events} == {events[1]["data"]["message_id"]}
    # `after=` on the stream route and the category/type filters of the audit log.
    after = api.get(f"/v1/streams/{stream_id}/events", params={"after": events[2]["position"]}).json()
    assert after["records"] == events[3:]
    completed = api.get("/v1/events", params={"category": "probe", "type": "probe.completed"}).json()
    assert stream_id in {record["stream_id"] for record in completed["records"]}
    assert all(record["type"] == "probe.completed" for record in completed["records"])
    assert api.get("/v1/health").json()["jobs"].get("completed", 0) >= 1


def test_lifecycle_over_sse(api: httpx.Client, sauti_server: SautiServer, jobs: JobSubmitter) -> None:
    steps = 6
    stream_id = jobs.probe(sauti_server.data_dir, steps=steps, step_seconds=0.2)
    assert stream_id.startswith("probe-")

    reader = SSEReader()
    frames = read_sse(
        api, f"/v1/streams/{stream_id}/events", params={"until": "terminal"}, timeout=60, reader=reader
    )
    # The server closed the stream itself, right after the terminal event.
    assert [frame.event for frame in frames] == _lifecycle(steps)
    payloads = [frame.json() for frame in frames]
    assert [frame.id for frame in frames] == [str(p["position"]) for p in payloads]
    ids = [int(frame.id or 0) for frame in frames]
    assert ids == sorted(set(ids)) and ids[0] > 0
    assert [p["type"] for p in payloads] == [frame.event for frame in frames]
    _assert_well_formed(payloads, stream_id)
    assert [p["data"]["step"] for p in payloads if p["type"] == "probe.progressed"] == [
        f"step-{i}" for i in range(steps)
    ]
    percents = [p["data"]["percent"] for p in payloads if p["type"] == "probe.progressed"]
    assert percents == sorted(percents) and percents[-1] == pytest.approx(100.0)
    started = next(p for p in payloads if p["type"] == "probe.started")
    assert started["data"]["attempt"] == 1
    assert payloads[-1]["data"]["result"] == {"steps": steps}

    # Both JSON views agree with what SSE delivered.
    assert stream_events(api, stream_id) == payloads
    assert _all_events_paged(api, stream_id, limit=3) == payloads

    # Submitted without a request id: every event is correlated to the stream itself.
    for payload in payloads:
        assert payload["metadata"]["correlation_id"] == stream_id, payload
        assert "request_id" not in payload["metadata"]
    # Events the worker appended name the broker message that caused them.
    queued = payloads[1]
    worker_events = [p for p in payloads if p["version"] > 2]
    assert {p["metadata"]["causation_id"] for p in worker_events} == {queued["data"]["message_id"]}

    # The read model and the filters of the audit log agree.
    completed = api.get("/v1/events", params={"category": "probe", "type": "probe.completed"}).json()
    assert stream_id in {record["stream_id"] for record in completed["records"]}
    health = api.get("/v1/health").json()
    assert health["jobs"].get("completed", 0) >= 1


def test_sigkill_worker_mid_job(api: httpx.Client, sauti_server: SautiServer, jobs: JobSubmitter) -> None:
    """A worker killed mid-job: the supervisor restarts it, the message is redelivered once its
    lease expires, and the job resumes from its last stored step and completes exactly once."""
    steps = 10
    wait_until(lambda: alive_workers(api), 30, "an alive worker")
    stream_id = jobs.probe(sauti_server.data_dir, steps=steps, step_seconds=0.4)

    wait_for_events(
        api,
        stream_id,
        lambda events: event_types(events).count("probe.progressed") >= 2,
        30,
        "two progressed events",
    )
    workers = alive_workers(api)
    assert len(workers) == 1, workers
    victim = workers[0]["pid"]
    # The job is running on that worker: kill it without any chance to clean up.
    os.kill(victim, signal.SIGKILL)
    killed_at_log_length = len(sauti_server.log_text())

    events = wait_for_terminal(api, stream_id, timeout=60)
    types = event_types(events)
    _assert_well_formed(events, stream_id)
    assert types.count("probe.completed") == 1, types
    assert types[-1] == "probe.completed", types
    assert not any(t in types for t in ("probe.failed", "probe.cancelled", "probe.retrying")), types
    progressed_steps = [e["data"]["step"] for e in events if e["type"] == "probe.progressed"]
    assert sorted(progressed_steps) == sorted(f"step-{i}" for i in range(steps)), progressed_steps
    assert Counter(progressed_steps).most_common(1)[0][1] == 1, progressed_steps

    stale = [e for e in events if e["type"] == "probe.stale"]
    assert len(stale) == 1, types
    assert stale[0]["data"]["attempt"] == 1
    starts = [e for e in events if e["type"] == "probe.started"]
    assert [s["data"]["attempt"] for s in starts] == [1, 2], types
    assert starts[0]["data"]["worker"] != starts[1]["data"]["worker"]
    assert stale[0]["data"]["worker"] == starts[0]["data"]["worker"]
    # stale and the second start come right after what the first attempt stored.
    assert types.index("probe.stale") + 1 == types.index("probe.started", types.index("probe.stale"))
    assert types.index("probe.stale") > types.index("probe.progressed")

    # The supervisor restarted a worker: a new pid is alive, the killed one is not.
    restarted = wait_until(
        lambda: [w for w in alive_workers(api) if w["pid"] != victim], 30, "a restarted worker"
    )
    assert restarted[0]["pid"] != victim
    processes = api.get("/v1/health").json()["workers"]["processes"]
    assert not any(p["pid"] == victim and p["alive"] for p in processes), processes
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)

    # ... and said so in its log.
    def crash_logged() -> bool:
        return any(
            record.get("level") == "error"
            and record.get("logger") == "app.cli.supervisor"
            and f"(pid {victim}) exited with code -9" in record.get("message", "")
            and "restarting" in record["message"]
            for record in sauti_server.log_records()
        )

    wait_until(crash_logged, 10, f"the supervisor's crash line for pid {victim}")
    assert (
        f"worker process 0 started (pid {restarted[0]['pid']})"
        in sauti_server.log_text()[killed_at_log_length:]
    )


def test_sse_resume_with_last_event_id(
    api: httpx.Client, sauti_server: SautiServer, jobs: JobSubmitter
) -> None:
    steps = 8
    stream_id = jobs.probe(sauti_server.data_dir, steps=steps, step_seconds=0.3)
    path = f"/v1/streams/{stream_id}/events"

    first = read_sse(api, path, params={"until": "terminal"}, max_frames=4, timeout=30)
    assert len(first) == 4
    assert first[-1].event != "probe.completed"
    last_id = first[-1].id
    assert last_id is not None

    # Let the job move on while nobody listens, so the resumed stream starts with a backlog.
    wait_for_events(
        api,
        stream_id,
        lambda events: len(events) >= len(first) + 2,
        30,
        "events recorded while disconnected",
    )
    second = read_sse(api, path, params={"until": "terminal"}, last_event_id=last_id, timeout=60)
    assert second, "nothing after the resume point"
    assert int(second[0].id or 0) > int(last_id)
    assert second[-1].event == "probe.completed"

    # A client that reconnects after the end gets a stream that closes at once.
    again = read_sse(api, path, params={"until": "terminal"}, last_event_id=second[-1].id, timeout=10)
    assert again == []

    union = first + second
    stored = stream_events(api, stream_id)
    assert [frame.json() for frame in union] == stored
    assert [frame.id for frame in union] == [str(event["position"]) for event in stored]
    assert [frame.event for frame in union] == _lifecycle(steps)


def test_sse_after_query_and_audit_log_follow(
    api: httpx.Client, sauti_server: SautiServer, jobs: JobSubmitter
) -> None:
    """`?after=` resumes like Last-Event-ID, and the global audit log follows a stream over SSE."""
    stream_id = jobs.probe(sauti_server.data_dir, steps=3, step_seconds=0.1)
    frames = read_sse(api, "/v1/events", params={"stream": stream_id, "until": "terminal"}, timeout=30)
    assert [frame.event for frame in frames] == _lifecycle(3)
    middle = frames[2].id
    rest = read_sse(
        api, f"/v1/streams/{stream_id}/events", params={"until": "terminal", "after": middle}, timeout=30
    )
    assert [frame.id for frame in rest] == [frame.id for frame in frames[3:]]


def test_sse_heartbeat(api: httpx.Client) -> None:
    """An idle SSE stream carries heartbeat comments (every SAUTI_SSE_HEARTBEAT_SECONDS)."""
    reader = SSEReader()
    headers = {"Accept": "text/event-stream"}
    timeout = httpx.Timeout(10.0, read=5.0)
    unknown = api.get("/v1/streams/probe-never-written/events", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "404"
    with api.stream(
        "GET", "/v1/events", params={"stream": "probe-never-written"}, headers=headers, timeout=timeout
    ) as response:
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"
        for line in response.iter_lines():
            assert reader.feed(line) is None
            if len(reader.comments) >= 2:
                break
    assert reader.comments[:2] == ["heartbeat", "heartbeat"]
