"""The generic job lifecycle every job kind reuses.

requested → queued → started → progressed… → completed | failed | cancelled,
with ``retrying`` (a failed attempt that will run again), ``stale`` (the worker running it
disappeared) and ``cancel_requested``. Pure: ``decide(command, state) -> events`` and
``evolve(state, event) -> state``; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from domain.errors import InvalidTransition
from domain.events import DomainEvent

JobStatus = Literal["requested", "queued", "running", "retrying", "completed", "failed", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


# --- events -----------------------------------------------------------------------------


class JobRequested(DomainEvent):
    verb = "requested"
    job_id: str
    params: dict[str, Any] = {}
    run: int = 1
    """1 for the first run; a rerun of an ended job appends ``requested`` again with the next number."""


class JobQueued(DomainEvent):
    verb = "queued"
    actor: str
    message_id: str | None = None


class JobStarted(DomainEvent):
    verb = "started"
    attempt: int
    worker: str


class JobProgressed(DomainEvent):
    verb = "progressed"
    step: str
    percent: float
    detail: dict[str, Any] = {}


class JobCompleted(DomainEvent):
    verb = "completed"
    result: dict[str, Any] = {}


class JobFailed(DomainEvent):
    verb = "failed"
    error: str
    error_type: str = "runtime_error"
    param: str | None = None
    """The request field at fault, for an input error."""


class JobRetrying(DomainEvent):
    verb = "retrying"
    attempt: int
    error: str
    delay_ms: int


class JobStale(DomainEvent):
    verb = "stale"
    attempt: int
    worker: str
    reason: str


class JobCancelRequested(DomainEvent):
    verb = "cancel_requested"
    reason: str | None = None


class JobCancelled(DomainEvent):
    verb = "cancelled"
    reason: str | None = None


LIFECYCLE_EVENTS: tuple[type[DomainEvent], ...] = (
    JobRequested,
    JobQueued,
    JobStarted,
    JobProgressed,
    JobCompleted,
    JobFailed,
    JobRetrying,
    JobStale,
    JobCancelRequested,
    JobCancelled,
)
_BY_VERB = {cls.verb: cls for cls in LIFECYCLE_EVENTS}
TERMINAL_VERBS: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


_STATUS_AFTER: dict[type[DomainEvent], JobStatus] = {
    JobRequested: "requested",
    JobQueued: "queued",
    JobStarted: "running",
    JobRetrying: "retrying",
    JobStale: "queued",  # its worker is gone: the message goes back to the queue
    JobCompleted: "completed",
    JobFailed: "failed",
    JobCancelled: "cancelled",
}

# --- status vocabularies: what a job's status reads as in a read model -----------------------

JOB_STATUSES: dict[JobStatus, str] = {status: status for status in _STATUS_AFTER.values()}
"""The ``jobs`` read model shows the lifecycle's own statuses."""
RECORD_STATUSES: dict[JobStatus, str] = {
    "requested": "queued",
    "queued": "queued",
    "retrying": "queued",
    "running": "processing",
    "completed": "ready",
    "failed": "failed",
    "cancelled": "cancelled",
}
"""Records (speech-to-text, speech history) show the contract's processing statuses."""
VOICE_STATUSES: dict[JobStatus, str] = {
    **RECORD_STATUSES,
    "requested": "processing",
    "queued": "processing",
    "retrying": "processing",
}
"""A saved voice is ``processing`` until its transcript is found."""
RENDER_STATUSES: dict[JobStatus, str] = {**JOB_STATUSES, "requested": "queued", "retrying": "queued"}
"""Studio render jobs show the contract's queued, running, completed, failed, cancelled (and
``stale``, which a completed render becomes once its project changes: ``domain.studio_renders``)."""


def status_after(event: DomainEvent) -> JobStatus | None:
    """The job status a lifecycle event moves the job to; None for one that keeps it."""
    return _STATUS_AFTER.get(type(event))


def lifecycle_event(event_type: str, data: dict[str, Any]) -> DomainEvent | None:
    """Decode a stored lifecycle event of any job category; None for kind-specific events."""
    _, _, verb = event_type.partition(".")
    cls = _BY_VERB.get(verb)
    return cls.model_validate(data) if cls is not None else None


def is_terminal_type(event_type: str) -> bool:
    return event_type.partition(".")[2] in TERMINAL_VERBS


def is_completed_type(event_type: str) -> bool:
    return event_type.partition(".")[2] == JobCompleted.verb


# --- state ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobState:
    job_id: str | None = None
    status: JobStatus | None = None
    params: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0
    worker: str | None = None
    percent: float = 0.0
    steps_done: tuple[str, ...] = ()
    cancel_requested: bool = False
    result: dict[str, Any] | None = None
    error: str | None = None
    run: int = 0
    actor: str | None = None
    """The actor its messages go to (from ``queued``)."""

    @property
    def exists(self) -> bool:
        return self.status is not None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


def evolve(state: JobState, event: DomainEvent) -> JobState:
    match event:
        case JobRequested(job_id=job_id, params=params, run=run):
            return JobState(job_id=job_id, status="requested", params=dict(params), run=run)
        case JobQueued(actor=actor):
            return replace(state, status="queued", actor=actor)
        case JobStarted(attempt=attempt, worker=worker):
            return replace(state, status="running", attempt=attempt, worker=worker)
        case JobProgressed(step=step, percent=percent):
            return replace(state, percent=percent, steps_done=(*state.steps_done, step))
        case JobRetrying(error=error):
            return replace(state, status="retrying", error=error)
        case JobStale():
            return replace(state, status="queued", worker=None)
        case JobCancelRequested():
            return replace(state, cancel_requested=True)
        case JobCompleted(result=result):
            return replace(state, status="completed", percent=100.0, result=dict(result))
        case JobFailed(error=error):
            return replace(state, status="failed", error=error)
        case JobCancelled():
            return replace(state, status="cancelled")
    return state


def fold(events: list[DomainEvent]) -> JobState:
    state = JobState()
    for event in events:
        state = evolve(state, event)
    return state


# --- commands and the decider -----------------------------------------------------------


@dataclass(frozen=True)
class RequestJob:
    job_id: str
    actor: str
    params: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None


@dataclass(frozen=True)
class StartAttempt:
    worker: str


@dataclass(frozen=True)
class ReportProgress:
    step: str
    percent: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestRerun:
    """Run an ended job again, with the same params and actor, as the next run of the same stream."""

    message_id: str | None = None


@dataclass(frozen=True)
class CompleteJob:
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FailJob:
    error: str
    error_type: str = "runtime_error"
    param: str | None = None


@dataclass(frozen=True)
class ScheduleRetry:
    error: str
    delay_ms: int


@dataclass(frozen=True)
class RequestCancel:
    reason: str | None = None


@dataclass(frozen=True)
class ConfirmCancel:
    pass


Command = (
    RequestJob
    | RequestRerun
    | StartAttempt
    | ReportProgress
    | CompleteJob
    | FailJob
    | ScheduleRetry
    | RequestCancel
    | ConfirmCancel
)


def decide(command: Command, state: JobState) -> list[DomainEvent]:
    """Events a command produces, or ``[]`` where it is already true (idempotent retries).

    Raises ``InvalidTransition`` where the command makes no sense in this state.
    """
    if isinstance(command, RequestJob):
        if state.exists:
            if state.job_id == command.job_id:
                return []
            raise InvalidTransition(f"job {state.job_id} already exists")
        return [
            JobRequested(job_id=command.job_id, params=command.params),
            JobQueued(actor=command.actor, message_id=command.message_id),
        ]
    if not state.exists:
        raise InvalidTransition("the job does not exist")
    if isinstance(command, RequestRerun):
        if not state.is_terminal:
            raise InvalidTransition(f"the job is still {state.status}: cancel it before running it again")
        return [
            JobRequested(job_id=state.job_id or "", params=state.params, run=state.run + 1),
            JobQueued(actor=state.actor or "", message_id=command.message_id),
        ]
    if state.is_terminal:
        if isinstance(command, RequestCancel):
            raise InvalidTransition(f"the job is already {state.status}")
        return []

    match command:
        case StartAttempt(worker=worker):
            events: list[DomainEvent] = []
            if state.status == "running":
                # Someone started an attempt and never finished it: that worker is gone.
                events.append(
                    JobStale(attempt=state.attempt, worker=state.worker or "?", reason="redelivered")
                )
            events.append(JobStarted(attempt=state.attempt + 1, worker=worker))
            return events
        case ReportProgress(step=step, percent=percent, detail=detail):
            # A step reports again only to move the job on (a long step's milestones); a resumed
            # attempt does not repeat what an earlier one reported.
            if step in state.steps_done and percent <= state.percent:
                return []
            _require_running(state, "report progress")
            return [JobProgressed(step=step, percent=max(0.0, min(100.0, percent)), detail=detail)]
        case CompleteJob(result=result):
            _require_running(state, "complete")
            return [JobCompleted(result=result)]
        case FailJob(error=error, error_type=error_type, param=param):
            return [JobFailed(error=error, error_type=error_type, param=param)]
        case ScheduleRetry(error=error, delay_ms=delay_ms):
            return [JobRetrying(attempt=state.attempt, error=error, delay_ms=delay_ms)]
        case RequestCancel(reason=reason):
            if state.cancel_requested:
                return []
            if state.status in ("requested", "queued", "retrying"):
                # Nobody is working on it: cancellation takes effect at once.
                return [JobCancelRequested(reason=reason), JobCancelled(reason=reason)]
            return [JobCancelRequested(reason=reason)]
        case ConfirmCancel():
            return [JobCancelled(reason="cancelled while running")]
    raise InvalidTransition(f"unknown command {command!r}")


def _require_running(state: JobState, what: str) -> None:
    if state.status != "running":
        raise InvalidTransition(f"cannot {what} a job that is {state.status}")
