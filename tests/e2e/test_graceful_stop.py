"""SIGTERM with a job in flight: the server exits 0 in time, and a new server on the same data
directory resumes the job from its last stored step and completes it exactly once."""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    GRACE_SECONDS,
    JobSubmitter,
    SautiServer,
    alive_workers,
    event_types,
    tail,
    wait_for_events,
    wait_for_terminal,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def _queue_rows(data_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "sauti.db") as connection:
        return list(connection.execute("SELECT message_id, state FROM queue_messages ORDER BY id"))


def test_sigterm_with_a_job_in_flight_then_resume(
    tmp_path: Path, server_factory: Callable[..., SautiServer], jobs: JobSubmitter
) -> None:
    data_dir = tmp_path / "data"
    steps = 25
    first = server_factory(data_dir)
    with first.client() as api:
        workers = alive_workers(api)
        assert workers
        stream_id = jobs.probe(data_dir, steps=steps, step_seconds=0.25)
        wait_for_events(
            api,
            stream_id,
            lambda events: event_types(events).count("probe.progressed") >= 2,
            30,
            "the job to be running",
        )

    started = time.monotonic()
    code = first.stop()
    elapsed = time.monotonic() - started
    log = first.log_text()
    assert code == 0, f"exit code {code}\n{tail(log)}"
    # The worker noticed at its next checkpoint and handed the job back: nobody was killed.
    assert elapsed < GRACE_SECONDS, f"stopping took {elapsed:.1f}s\n{tail(log)}"
    assert "did not stop in" not in log, tail(log)
    assert "the worker is shutting down" in log, tail(log)
    assert "sauti stopped" in log
    for worker in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(worker["pid"], 0)

    # What the first server left behind: an unfinished job and its message ready to run again.
    before = jobs.container(data_dir).store.read_stream(stream_id)
    types_before = [event.type for event in before]
    assert not any(t.endswith((".completed", ".failed", ".cancelled")) for t in types_before), types_before
    done_before = [event.data["step"] for event in before if event.type == "probe.progressed"]
    assert 2 <= len(done_before) < steps, types_before
    states = [state for _, state in _queue_rows(data_dir)]
    assert states.count("ready") == 1 and "leased" not in states, states

    second = server_factory(data_dir)
    with second.client() as api:
        events = wait_for_terminal(api, stream_id, timeout=60)
    types = event_types(events)
    assert types.count("probe.completed") == 1 and types[-1] == "probe.completed", types
    assert not any(t in types for t in ("probe.failed", "probe.retrying", "probe.cancelled")), types
    # Nothing stored before the stop was rewritten, nothing repeated after it.
    assert [e["event_id"] for e in events[: len(before)]] == [e.event_id for e in before]
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["event_id"] for e in events}) == len(events)
    progressed = [e["data"]["step"] for e in events if e["type"] == "probe.progressed"]
    assert Counter(progressed) == Counter(f"step-{i}" for i in range(steps)), progressed
    assert progressed[: len(done_before)] == done_before
    # The second attempt marked the first one stale and picked up where it stopped.
    resumed = types[len(before) :]
    assert resumed[:2] == ["probe.stale", "probe.started"], types
    started_events = [e for e in events if e["type"] == "probe.started"]
    assert [e["data"]["attempt"] for e in started_events] == [1, 2]
    assert events[-1]["data"]["result"] == {"steps": steps}
    assert [state for _, state in _queue_rows(data_dir)].count("ready") == 0
