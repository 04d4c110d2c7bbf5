"""Job actors on the real embedded broker: retries, failures, cancellation and shutdown as events."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import select

from app.bootstrap import Container
from app.projections.tables import jobs
from app.settings import Settings
from tests.conftest import probe_kind
from tests.integration.conftest import (
    finish_after_restart,
    has_ended,
    install_runtime,
    wait_for_events,
    wait_for_terminal,
)
from workers.actors import job_actor
from workers.engines.registry import EngineRegistry
from workers.schema import queue_messages
from workflows.jobs import JobInputError, JobRun

pytestmark = pytest.mark.usefixtures("runtime")

FLAKY = probe_kind("test_flaky")
BAD_INPUT = probe_kind("test_bad_input")
ALWAYS_FAILS = probe_kind("test_always_fails")
STEPS = probe_kind("test_steps")
failures_left: Counter[str] = Counter()
started_steps = threading.Event()


@job_actor(FLAKY)
def flaky(run: JobRun) -> dict[str, int]:
    if failures_left[run.stream_id] > 0:
        failures_left[run.stream_id] -= 1
        raise RuntimeError("transient failure")
    return {"attempt": run.state.attempt}


@job_actor(BAD_INPUT)
def bad_input(run: JobRun) -> None:
    raise JobInputError("the audio is not audio")


@job_actor(ALWAYS_FAILS, max_retries=2)
def always_fails(run: JobRun) -> None:
    raise RuntimeError("never works")


@job_actor(STEPS)
def steps(run: JobRun) -> dict[str, int]:
    total = int(run.params["steps"])
    for index in range(total):
        step = f"step-{index}"
        if run.step_done(step):
            continue
        run.checkpoint()
        started_steps.set()
        time.sleep(float(run.params.get("step_seconds", 0.05)))
        run.progress(step, (index + 1) * 100 / total)
    return {"steps": total}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The retry tests count on three retries, whatever the environment's default."""
    return settings.model_copy(update={"job_max_retries": 3, "actor_modules": [__name__]})


def terminal_types(container: Container, stream_id: str) -> list[str]:
    return [event.type for event in wait_for_terminal(container, stream_id, timeout=20.0)]


def queue_states(container: Container) -> list[str]:
    with container.engine.connect() as connection:
        return [row.state for row in connection.execute(select(queue_messages.c.state))]


def settled_queue(container: Container, expected: list[str], timeout: float = 10.0) -> list[str]:
    """The queue's row states once they match ``expected`` (the ack/nack follows the job's last event)."""
    deadline = time.monotonic() + timeout
    states = queue_states(container)
    while states != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        states = queue_states(container)
    return states


def test_a_transient_failure_is_retried_and_recorded(container: Container, worker: Callable) -> None:
    worker()
    stream_id = container.jobs.submit(FLAKY)
    failures_left[stream_id] = 2
    types = terminal_types(container, stream_id)
    assert types == [
        "probe.requested",
        "probe.queued",
        "probe.started",
        "probe.retrying",
        "probe.started",
        "probe.retrying",
        "probe.started",
        "probe.completed",
    ]
    events = container.store.read_stream(stream_id)
    assert events[3].data["error"] == "RuntimeError: transient failure"
    assert events[3].data["delay_ms"] >= 50
    assert events[-1].data["result"] == {"attempt": 3}
    assert settled_queue(container, []) == []


def test_retries_run_out_and_the_job_fails(container: Container, worker: Callable) -> None:
    worker()
    stream_id = container.jobs.submit(ALWAYS_FAILS)
    types = terminal_types(container, stream_id)
    assert types.count("probe.started") == 3
    assert types.count("probe.retrying") == 2
    assert types[-1] == "probe.failed"
    failed = container.store.read_stream(stream_id)[-1]
    assert failed.data == {"error": "RuntimeError: never works", "error_type": "runtime_error", "param": None}
    assert settled_queue(container, ["dead"]) == ["dead"]


def test_bad_input_fails_at_once(container: Container, worker: Callable) -> None:
    worker()
    stream_id = container.jobs.submit(BAD_INPUT)
    types = terminal_types(container, stream_id)
    assert types == ["probe.requested", "probe.queued", "probe.started", "probe.failed"]
    failed = container.store.read_stream(stream_id)[-1]
    assert failed.data["error_type"] == "invalid_request_error"


def test_an_ended_job_runs_again_on_its_own_stream(container: Container, worker: Callable) -> None:
    worker()
    stream_id = container.jobs.submit(STEPS, {"steps": 3, "step_seconds": 0.01})
    first = terminal_types(container, stream_id)
    assert first.count("probe.progressed") == 3 and first[-1] == "probe.completed"
    assert container.jobs.rerun(stream_id).run == 2
    events = wait_for_events(
        container, stream_id, lambda events: len(events) > len(first) + 2 and has_ended(events)
    )
    types = [e.type for e in events]
    # The second run does every step again: its events are new ones, not repeats of the first's.
    assert types[len(first) :] == [
        "probe.requested",
        "probe.queued",
        "probe.started",
        "probe.progressed",
        "probe.progressed",
        "probe.progressed",
        "probe.completed",
    ]
    assert events[len(first)].data["run"] == 2
    with container.engine.connect() as connection:
        row = connection.execute(select(jobs).where(jobs.c.stream_id == stream_id)).one()
    assert row.status == "completed" and row.attempt == 1


def test_a_running_job_stops_at_its_next_step_when_cancelled(container: Container, worker: Callable) -> None:
    started_steps.clear()
    worker()
    stream_id = container.jobs.submit(STEPS, {"steps": 50, "step_seconds": 0.05})
    assert started_steps.wait(10)
    container.jobs.request_cancel(stream_id, "user asked")
    types = terminal_types(container, stream_id)
    assert types[-2:] == ["probe.cancel_requested", "probe.cancelled"] or types[-1] == "probe.cancelled"
    assert "probe.completed" not in types
    assert types.count("probe.progressed") < 50
    assert settled_queue(container, []) == []


def test_a_queued_job_is_cancelled_without_running(container: Container, worker: Callable) -> None:
    stream_id = container.jobs.submit(STEPS, {"steps": 3})
    container.jobs.request_cancel(stream_id)
    worker()
    container.broker.join("default", timeout=10_000)
    types = [e.type for e in container.store.read_stream(stream_id)]
    assert types == ["probe.requested", "probe.queued", "probe.cancel_requested", "probe.cancelled"]


def test_a_shutdown_requeues_the_job_and_it_resumes(
    container: Container, engines: EngineRegistry, worker: Callable
) -> None:
    started_steps.clear()
    runtime = install_runtime(container, engines, "stopping-worker")
    first = worker()
    stream_id = container.jobs.submit(STEPS, {"steps": 12, "step_seconds": 0.1})
    assert started_steps.wait(10)
    time.sleep(0.35)
    runtime.stopping.set()
    first.stop(timeout=5000)
    container.broker.close()
    done_before = [
        e.data["step"] for e in container.store.read_stream(stream_id) if e.type == "probe.progressed"
    ]
    assert 0 < len(done_before) < 12
    # Requeued without counting as a failed attempt.
    assert queue_states(container) == ["ready"]
    assert "probe.retrying" not in [e.type for e in container.store.read_stream(stream_id)]

    events = finish_after_restart(container, engines, stream_id, timeout=20.0)
    assert events[-1].type == "probe.completed"
    steps_done = [
        e.data["step"] for e in container.store.read_stream(stream_id) if e.type == "probe.progressed"
    ]
    assert steps_done == [f"step-{i}" for i in range(12)]
