"""The generic job lifecycle decider: pure, no I/O."""

from __future__ import annotations

import pytest

from domain.errors import InvalidTransition
from domain.events import DomainEvent
from domain.jobs import (
    CompleteJob,
    ConfirmCancel,
    FailJob,
    JobCancelled,
    JobCancelRequested,
    JobCompleted,
    JobProgressed,
    JobQueued,
    JobRequested,
    JobStale,
    JobStarted,
    JobState,
    ReportProgress,
    RequestCancel,
    RequestJob,
    RequestRerun,
    ScheduleRetry,
    StartAttempt,
    decide,
    evolve,
    fold,
    is_terminal_type,
    lifecycle_event,
)


def run(*commands: object) -> tuple[JobState, list[DomainEvent]]:
    state, history = JobState(), []
    for command in commands:
        for event in decide(command, state):  # type: ignore[arg-type]
            history.append(event)
            state = evolve(state, event)
    return state, history


def test_happy_path() -> None:
    state, history = run(
        RequestJob("j1", "actor", {"a": 1}),
        StartAttempt("w1"),
        ReportProgress("one", 50.0),
        ReportProgress("two", 100.0),
        CompleteJob({"ok": True}),
    )
    assert [type(e) for e in history] == [
        JobRequested,
        JobQueued,
        JobStarted,
        JobProgressed,
        JobProgressed,
        JobCompleted,
    ]
    assert state.status == "completed" and state.is_terminal
    assert state.steps_done == ("one", "two") and state.result == {"ok": True}
    assert state.percent == 100.0 and state.params == {"a": 1}


def test_an_ended_job_runs_again_as_its_next_run() -> None:
    state, history = run(
        RequestJob("j1", "actor", {"a": 1}),
        StartAttempt("w1"),
        ReportProgress("one", 50.0),
        FailJob("boom"),
        RequestRerun("m2"),
    )
    assert history[-2:] == [
        JobRequested(job_id="j1", params={"a": 1}, run=2),
        JobQueued(actor="actor", message_id="m2"),
    ]
    assert state.status == "queued" and state.run == 2
    assert state.steps_done == () and state.error is None and state.params == {"a": 1}
    state, _ = run(RequestJob("j1", "actor"), StartAttempt("w1"))
    with pytest.raises(InvalidTransition, match="still running"):
        decide(RequestRerun(), state)
    with pytest.raises(InvalidTransition):
        decide(RequestRerun(), JobState())


def test_a_long_step_reports_again_only_to_move_the_job_on() -> None:
    state, _ = run(RequestJob("j1", "actor"), StartAttempt("w1"), ReportProgress("transcription", 10))
    assert decide(ReportProgress("transcription", 5), state) == []
    [moved] = decide(ReportProgress("transcription", 15), state)
    assert isinstance(moved, JobProgressed) and moved.percent == 15


def test_repeated_commands_are_no_ops() -> None:
    state, _ = run(RequestJob("j1", "actor"), StartAttempt("w1"), ReportProgress("one", 10))
    assert decide(RequestJob("j1", "actor"), state) == []
    assert decide(ReportProgress("one", 10), state) == []
    done, _ = run(RequestJob("j1", "actor"), StartAttempt("w1"), CompleteJob())
    assert decide(CompleteJob(), done) == []
    assert decide(StartAttempt("w2"), done) == []
    assert decide(FailJob("late"), done) == []


def test_a_second_start_marks_the_first_attempt_stale() -> None:
    state, history = run(RequestJob("j1", "actor"), StartAttempt("w1"), StartAttempt("w2"))
    assert isinstance(history[-2], JobStale) and history[-2].worker == "w1"
    assert isinstance(history[-1], JobStarted) and history[-1].attempt == 2
    assert state.status == "running" and state.worker == "w2"


def test_cancel_before_start_takes_effect_at_once() -> None:
    state, history = run(RequestJob("j1", "actor"), RequestCancel("user"))
    assert [type(e) for e in history[-2:]] == [JobCancelRequested, JobCancelled]
    assert state.status == "cancelled"


def test_cancel_while_running_waits_for_the_worker() -> None:
    state, _ = run(RequestJob("j1", "actor"), StartAttempt("w1"), RequestCancel())
    assert state.status == "running" and state.cancel_requested
    assert decide(RequestCancel(), state) == []
    state, _ = run(RequestJob("j1", "actor"), StartAttempt("w1"), RequestCancel(), ConfirmCancel())
    assert state.status == "cancelled"


def test_invalid_transitions() -> None:
    with pytest.raises(InvalidTransition):
        decide(StartAttempt("w"), JobState())
    queued, _ = run(RequestJob("j1", "actor"))
    with pytest.raises(InvalidTransition):
        decide(CompleteJob(), queued)
    with pytest.raises(InvalidTransition):
        decide(ReportProgress("x", 1), queued)
    with pytest.raises(InvalidTransition):
        decide(RequestJob("other", "actor"), queued)
    done, _ = run(RequestJob("j1", "actor"), StartAttempt("w"), CompleteJob())
    with pytest.raises(InvalidTransition):
        decide(RequestCancel(), done)


def test_retry_and_failure() -> None:
    state, _ = run(RequestJob("j1", "a"), StartAttempt("w"), ScheduleRetry("boom", 1000))
    assert state.status == "retrying" and state.error == "boom"
    state, _ = run(RequestJob("j1", "a"), StartAttempt("w"), ScheduleRetry("boom", 1000), StartAttempt("w"))
    assert state.status == "running" and state.attempt == 2
    state, _ = run(RequestJob("j1", "a"), StartAttempt("w"), FailJob("bad input", "invalid_request_error"))
    assert state.status == "failed" and state.error == "bad input"


def test_progress_is_clamped() -> None:
    state, _ = run(RequestJob("j1", "a"), StartAttempt("w"), ReportProgress("s", 140.0))
    assert state.percent == 100.0


def test_event_types_and_decoding() -> None:
    assert JobRequested.type_for("transcription") == "transcription.requested"
    assert JobCancelRequested.type_for("speech") == "speech.cancel_requested"
    decoded = lifecycle_event("speech.started", {"attempt": 2, "worker": "w"})
    assert decoded == JobStarted(attempt=2, worker="w")
    assert lifecycle_event("transcription.segment_transcribed", {}) is None
    assert (
        is_terminal_type("x.completed") and is_terminal_type("x.cancelled") and is_terminal_type("x.failed")
    )
    assert not is_terminal_type("x.cancel_requested")
    assert fold([JobRequested(job_id="j"), JobQueued(actor="a")]).status == "queued"
