"""Job actors: declared once as specs, bound to whichever broker the bootstrap builds.

A job actor's function receives a ``JobRun`` and returns the job's result. The wrapper
records the start of the attempt, skips jobs that already ended, stops for cancellation,
and records completion; failures go to the ``JobRetries`` middleware.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from workers import runtime
from workflows.jobs import JobCancelledError, JobInputError, JobRun, WorkerShuttingDown

JobFunction = Callable[[JobRun], dict[str, Any] | None]
DEFAULT_QUEUE = "default"


@dataclass(frozen=True)
class JobActorSpec:
    name: str
    fn: JobFunction
    queue: str = DEFAULT_QUEUE
    options: dict[str, Any] = field(default_factory=dict)


_specs: dict[str, JobActorSpec] = {}


def job_actor(
    name: str, *, queue: str = DEFAULT_QUEUE, **options: Any
) -> Callable[[JobFunction], JobFunction]:
    """Declare a job actor. ``options`` are Dramatiq actor options (max_retries, throws…)."""

    def decorate(fn: JobFunction) -> JobFunction:
        if name in _specs and _specs[name].fn is not fn:
            raise ValueError(f"a job actor named {name!r} is already declared")
        _specs[name] = JobActorSpec(name, fn, queue, options)
        return fn

    return decorate


def run_job(spec: JobActorSpec, stream_id: str) -> None:
    rt = runtime.current()
    message = CurrentMessage.get_current_message()
    message_id = message.message_id if message is not None else stream_id
    run = JobRun(
        rt.store, stream_id, message_id=message_id, worker=rt.worker_id, should_stop=rt.stopping.is_set
    )
    if not run.begin():
        return
    try:
        result = spec.fn(run)
    except JobCancelledError:
        return
    except JobInputError as error:
        # An expected outcome, not a crash: recorded here, and the message is done.
        run.fail(str(error), "invalid_request_error", error.param)
        return
    if not run.state.is_terminal:
        run.complete(result or {})


def import_actor_modules(modules: Iterable[str]) -> None:
    for module in modules:
        importlib.import_module(module)


def declare_job_actors(broker: dramatiq.Broker) -> list[dramatiq.Actor[Any, Any]]:
    declared = []
    for spec in _specs.values():

        def body(stream_id: str, _spec: JobActorSpec = spec) -> None:
            run_job(_spec, stream_id)

        options = dict(spec.options)
        # Expected outcomes, not crashes: Dramatiq logs them without a traceback.
        options["throws"] = (WorkerShuttingDown, JobInputError, *_as_tuple(options.get("throws")))
        declared.append(
            dramatiq.Actor(
                body, broker=broker, actor_name=spec.name, queue_name=spec.queue, priority=0, options=options
            )
        )
    return declared


def _as_tuple(throws: Any) -> tuple[type[BaseException], ...]:
    if throws is None:
        return ()
    return tuple(throws) if isinstance(throws, tuple | list) else (throws,)
