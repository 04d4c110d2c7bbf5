"""Job orchestration: submit a job (append + enqueue atomically), run its steps, cancel it.

An actor's body wraps a ``JobRun``: it re-reads the stream, skips steps its events show as
done (so a redelivered message resumes instead of repeating work), checks for cancellation
and shutdown between steps, and appends progress with deterministic event ids, so a
repeated step is a no-op in the store.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from domain.errors import InvalidTransition, NotFound
from domain.events import DomainEvent, deterministic_event_id, new_id
from domain.jobs import Command as JobCommand
from domain.jobs import (
    CompleteJob,
    ConfirmCancel,
    FailJob,
    JobQueued,
    JobState,
    ReportProgress,
    RequestCancel,
    RequestJob,
    RequestRerun,
    ScheduleRetry,
    StartAttempt,
    decide,
    evolve,
    lifecycle_event,
)
from domain.kinds import JobKind
from eventstore.base import (
    ANY,
    NO_STREAM,
    ConcurrencyError,
    EventStore,
    NewEvent,
    RecordedEvent,
    StoreTransaction,
)

MAX_CONFLICT_RETRIES = 8
Along = tuple[str, NewEvent]
"""An event of another stream, recorded in the same transaction as a job's own (stream id, event)."""


class JobDispatcher(Protocol):
    """Hands a job's message to the broker, inside the transaction that records the job where
    the broker allows it, otherwise right after its commit."""

    def dispatch(self, tx: StoreTransaction, actor_name: str, stream_id: str, message_id: str) -> None: ...


class JobCancelledError(Exception):
    """Raised by ``JobRun.checkpoint`` once the cancellation has been recorded."""


class JobInputError(Exception):
    """The job's input can never succeed (bad audio, unsupported option): fail without retrying.

    The message is shown to the client as is (a 400), with ``param`` naming the field at fault.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class WorkerShuttingDown(Exception):
    """Raised by ``JobRun.checkpoint`` when the worker process is stopping: requeue, don't fail."""


class JobDeferred(Exception):
    """The job gives way to more urgent work: its message goes back to the queue (after a short
    delay), neither failed nor retried."""


def to_new_event(
    category: str, event: DomainEvent, event_id: str | None = None, metadata: dict[str, Any] | None = None
) -> NewEvent:
    return NewEvent(
        type=event.type_for(category),
        data=event.payload(),
        event_id=event_id or str(uuid.uuid4()),
        schema_version=event.schema_version,
        metadata=dict(metadata or {}),
    )


def load_job(store: EventStore, stream_id: str) -> tuple[JobState, int]:
    """The job's state and the stream version it was folded from."""
    state, version = JobState(), 0
    for recorded in store.read_stream(stream_id):
        state = _evolve_recorded(state, recorded)
        version = recorded.version
    return state, version


def unended(store: EventStore, stream_ids: Iterable[str]) -> list[str]:
    """The job streams among ``stream_ids`` whose job exists and has not ended, in order: what a
    job that must come after them waits for."""
    waiting = []
    for stream_id in stream_ids:
        state, _version = load_job(store, stream_id)
        if state.exists and not state.is_terminal:
            waiting.append(stream_id)
    return waiting


def _evolve_recorded(state: JobState, recorded: RecordedEvent) -> JobState:
    event = lifecycle_event(recorded.type, recorded.data)
    return evolve(state, event) if event is not None else state


class JobService:
    """The entry point for starting and cancelling jobs (used by HTTP handlers and the CLI)."""

    def __init__(self, store: EventStore, dispatcher: JobDispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher

    def submit(
        self,
        kind: JobKind[Any],
        params: BaseModel | Mapping[str, Any] | None = None,
        *,
        job_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Record a job of ``kind`` and send its actor the message, in one transaction where the
        broker allows it. ``params`` are checked against the kind's params model."""
        with self.store.transaction() as tx:
            return self.submit_in(tx, kind, params, job_id=job_id, metadata=metadata)

    def submit_in(
        self,
        tx: StoreTransaction,
        kind: JobKind[Any],
        params: BaseModel | Mapping[str, Any] | None = None,
        *,
        job_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """``submit`` as part of the caller's transaction (the job and what caused it commit
        together). A ``job_id`` already recorded raises ``ConcurrencyError``."""
        checked = params if isinstance(params, BaseModel) else kind.parse(params or {})
        job_id = job_id or new_id()
        stream_id = kind.stream_id(job_id)
        message_id = str(uuid.uuid4())
        request = RequestJob(job_id, kind.actor, checked.model_dump(mode="json"), message_id)
        events = decide(request, JobState())
        meta = {"correlation_id": stream_id, **(metadata or {})}
        tx.append(stream_id, [to_new_event(kind.category, e, metadata=meta) for e in events], NO_STREAM)
        self.dispatcher.dispatch(tx, kind.actor, stream_id, message_id)
        return stream_id

    def rerun(self, stream_id: str, metadata: dict[str, Any] | None = None) -> JobState:
        """Run an ended job again from its recorded params: the next run of the same stream.

        Raises NotFound, or InvalidTransition while the job is still going.
        """
        meta = {"correlation_id": stream_id, **(metadata or {})}
        return self._decide(stream_id, RequestRerun(str(uuid.uuid4())), meta)

    def request_cancel(
        self, stream_id: str, reason: str | None = None, metadata: dict[str, Any] | None = None
    ) -> JobState:
        """Record a cancellation request. Raises NotFound, or InvalidTransition if it already ended."""
        return self._decide(stream_id, RequestCancel(reason), metadata)

    def _decide(self, stream_id: str, command: JobCommand, metadata: dict[str, Any] | None) -> JobState:
        """Append what ``command`` decides on the job's current state (retried on a concurrent
        change); a ``queued`` event among them sends its message in the same transaction."""
        category = stream_id.split("-", 1)[0]
        for _ in range(MAX_CONFLICT_RETRIES):
            state, version = load_job(self.store, stream_id)
            if not state.exists:
                raise NotFound(f"no job {stream_id}")
            events = decide(command, state)
            if not events:
                return state
            try:
                with self.store.transaction() as tx:
                    tx.append(
                        stream_id, [to_new_event(category, e, metadata=metadata) for e in events], version
                    )
                    for event in events:
                        if isinstance(event, JobQueued) and event.message_id is not None:
                            self.dispatcher.dispatch(tx, event.actor, stream_id, event.message_id)
            except ConcurrencyError:
                continue
            for event in events:
                state = evolve(state, event)
            return state
        raise ConcurrencyError(stream_id, "any", -1)


class JobRun:
    """One attempt at running a job, from inside an actor."""

    def __init__(
        self,
        store: EventStore,
        stream_id: str,
        *,
        message_id: str,
        worker: str,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.stream_id = stream_id
        self.category = stream_id.split("-", 1)[0]
        self.message_id = message_id
        self.worker = worker
        self.should_stop = should_stop
        self.state = JobState()
        self.version = 0
        self.metadata: dict[str, Any] = {}
        self.recorded: list[RecordedEvent] = []
        self._catch_up()

    # -- reading -----------------------------------------------------------------------

    def _catch_up(self) -> None:
        for recorded in self.store.read_stream(self.stream_id, self.version + 1):
            if recorded.type == f"{self.category}.requested":
                self.recorded = []  # a new run: what earlier runs recorded is not this run's work
            if recorded.version == 1:
                self.metadata = {
                    key: recorded.metadata[key]
                    for key in ("request_id", "correlation_id")
                    if key in recorded.metadata
                }
            self.state = _evolve_recorded(self.state, recorded)
            self.version = recorded.version
            self.recorded.append(recorded)

    @property
    def params(self) -> dict[str, Any]:
        return self.state.params

    @property
    def run(self) -> int:
        return self.state.run

    def kind_events(self, verb: str) -> list[RecordedEvent]:
        """This run's stored events of the job's own kind with the given verb (e.g. segments done
        so far)."""
        wanted = f"{self.category}.{verb}"
        return [event for event in self.recorded if event.type == wanted]

    # -- writing -----------------------------------------------------------------------

    def _new_event(self, event: DomainEvent, id_parts: tuple[object, ...]) -> NewEvent:
        # Runs after the first get their own ids, so that a rerun's steps are not taken for
        # repeats of the first run's.
        run = ("run", self.state.run) if self.state.run > 1 else ()
        return to_new_event(
            self.category,
            event,
            deterministic_event_id(self.stream_id, *run, event.verb, *id_parts),
            {**self.metadata, "causation_id": self.message_id},
        )

    def _try_append(
        self, events: Sequence[DomainEvent], id_parts: tuple[object, ...], along: Sequence[Along] = ()
    ) -> bool:
        """Append at the version we know (with ``along``'s events, in the same transaction); on a
        conflict catch up and return False."""
        new = [self._new_event(e, id_parts) for e in events]
        try:
            if along:
                with self.store.transaction() as tx:
                    for stream_id, event in along:
                        tx.append(stream_id, [event], ANY)
                    tx.append(self.stream_id, new, self.version)
            else:
                self.store.append(self.stream_id, new, self.version)
        except ConcurrencyError:
            self._catch_up()
            return False
        self._catch_up()
        return True

    def _execute(
        self, command: JobCommand, *id_parts: object, along: Sequence[Along] = ()
    ) -> list[DomainEvent]:
        for _ in range(MAX_CONFLICT_RETRIES):
            events = decide(command, self.state)
            if not events or self._try_append(events, id_parts, along):
                return events
        raise ConcurrencyError(self.stream_id, self.version, -1)

    def append(self, event: DomainEvent, *id_parts: object) -> None:
        """Append a kind-specific event (e.g. ``segment_transcribed``) with a deterministic id."""
        for _ in range(MAX_CONFLICT_RETRIES):
            if self._try_append([event], id_parts):
                return
        raise ConcurrencyError(self.stream_id, self.version, -1)

    def begin(self) -> bool:
        """Record the start of this attempt. False when there is nothing to do (ended, or unknown)."""
        if not self.state.exists or self.state.is_terminal:
            return False
        if self.state.cancel_requested:
            self._execute(ConfirmCancel())
            return False
        self._execute(StartAttempt(self.worker), self.state.attempt + 1)
        return True

    def step_done(self, step: str) -> bool:
        return step in self.state.steps_done

    def progress(
        self, step: str, percent: float, detail: dict[str, Any] | None = None, *, along: Sequence[Along] = ()
    ) -> None:
        """Record progress; ``along`` are events of other streams that commit with it (what the step
        made, recorded where it belongs), each idempotent by its own event id."""
        self._execute(ReportProgress(step, percent, detail or {}), step, percent, along=along)

    def check_cancelled(self, *, caught_up: bool = False) -> None:
        """Stop for a recorded cancellation request (the cancellation is confirmed first).

        ``caught_up``: the run has just read its stream (an append does), so it is not read again.
        """
        if not caught_up:
            self._catch_up()
        if self.state.cancel_requested and not self.state.is_terminal:
            self._execute(ConfirmCancel())
            raise JobCancelledError(self.stream_id)

    def checkpoint(self) -> None:
        """Between steps: stop for a cancellation (recorded) or a worker shutdown (requeued)."""
        self.check_cancelled()
        if self.should_stop():
            raise WorkerShuttingDown(self.stream_id)

    def complete(self, result: dict[str, Any] | None = None, *, along: Sequence[Along] = ()) -> None:
        """Record the result; ``along`` as for ``progress`` (what the job made, where it belongs)."""
        self._execute(CompleteJob(result or {}), along=along)

    def fail(self, error: str, error_type: str = "runtime_error", param: str | None = None) -> None:
        self._execute(FailJob(error, error_type, param))

    def retrying(self, error: str, delay_ms: int) -> None:
        self._execute(ScheduleRetry(error, delay_ms), self.state.attempt)


def record_failure(store: EventStore, stream_id: str, message_id: str, error: str, error_type: str) -> None:
    """Record that a job failed for good (used by the broker middleware when retries run out)."""
    run = JobRun(store, stream_id, message_id=message_id, worker="broker")
    with contextlib.suppress(InvalidTransition):
        run.fail(error, error_type)


def record_retry(store: EventStore, stream_id: str, message_id: str, error: str, delay_ms: int) -> None:
    run = JobRun(store, stream_id, message_id=message_id, worker="broker")
    with contextlib.suppress(InvalidTransition):
        run.retrying(error, delay_ms)
