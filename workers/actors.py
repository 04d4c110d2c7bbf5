"""Actors: declared once, in the module of their worker step, and bound to whichever broker the
bootstrap builds.

A job actor runs the job kinds that name it (``@job_actor(TRANSCRIPTION)``): its function gets a
``JobRun`` and returns the job's result. The wrapper records the start of the attempt, skips jobs
that already ended, stops for cancellation and records completion; failures go to the
``JobRetries`` middleware. A message actor (``@message_actor(name)``: model downloads, summaries)
is a plain function of its message's arguments.

Declaring is per module: ``declare_actors(broker, modules)`` imports the modules and declares the
actors they define, so the actors of a test module reach only the brokers that name it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dramatiq
from dramatiq.middleware import CurrentMessage
from pydantic import BaseModel, ValidationError

from domain.catalog import ModelVariant
from domain.fields import FieldError
from domain.kinds import DEFAULT_QUEUE, JobKind
from workers import runtime
from workflows.jobs import JobCancelledError, JobDeferred, JobInputError, JobRun, WorkerShuttingDown

JobFunction = Callable[[JobRun], dict[str, Any] | None]
WaitCheck = Callable[[JobRun], str | None]
MessageFunction = Callable[..., None]
P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class ActorSpec:
    name: str
    body: MessageFunction
    """What the Dramatiq actor runs with its message's arguments."""
    module: str
    queue: str = DEFAULT_QUEUE
    options: dict[str, Any] = field(default_factory=dict)
    kinds: tuple[JobKind[Any], ...] = ()


_specs: dict[str, ActorSpec] = {}


def _register(spec: ActorSpec) -> None:
    known = _specs.get(spec.name)
    if known is not None and known.module != spec.module:
        raise ValueError(f"an actor named {spec.name!r} is already declared in {known.module}")
    _specs[spec.name] = spec


def job_actor(
    *kinds: JobKind[Any], waits: WaitCheck | None = None, **options: Any
) -> Callable[[JobFunction], JobFunction]:
    """Declare the actor of ``kinds`` (they name the same actor and queue). ``options`` are
    Dramatiq actor options (max_retries, throws…). ``waits(run)`` says what a job must wait for
    before it starts (None: nothing): a waiting job goes back to the queue as it was, queued, with
    nothing recorded."""
    names = {(kind.actor, kind.queue) for kind in kinds}
    if len(names) != 1:
        raise ValueError(f"job kinds {[k.name for k in kinds]} do not share one actor and queue")
    ((name, queue),) = names

    def decorate(fn: JobFunction) -> JobFunction:
        def body(stream_id: str) -> None:
            run_job(fn, stream_id, waits)

        _register(ActorSpec(name, body, fn.__module__, queue, dict(options), kinds))
        return fn

    return decorate


def message_actor(
    name: str, *, queue: str = DEFAULT_QUEUE, **options: Any
) -> Callable[[MessageFunction], MessageFunction]:
    """Declare a plain actor: ``fn`` gets the message's arguments."""

    def decorate(fn: MessageFunction) -> MessageFunction:
        _register(ActorSpec(name, fn, fn.__module__, queue, dict(options)))
        return fn

    return decorate


def run_job(fn: JobFunction, stream_id: str, waits: WaitCheck | None = None) -> None:
    rt = runtime.current()
    message = CurrentMessage.get_current_message()
    message_id = message.message_id if message is not None else stream_id
    run = JobRun(
        rt.store, stream_id, message_id=message_id, worker=rt.worker_id, should_stop=rt.stopping.is_set
    )
    state = run.state
    if waits is not None and state.exists and not state.is_terminal and not state.cancel_requested:
        waiting_for = waits(run)
        if waiting_for is not None:
            raise JobDeferred(f"{stream_id} waits for {waiting_for}")
    if not run.begin():
        return
    try:
        result = fn(run)
    except JobCancelledError:
        return
    except JobInputError as error:
        # An expected outcome, not a crash: recorded here, and the message is done.
        run.fail(str(error), "invalid_request_error", error.param)
        return
    if not run.state.is_terminal:
        run.complete(result or {})


def job_params(kind: JobKind[P], run: JobRun) -> P:
    """The job's params, as its kind declares them; params that do not fit fail the job."""
    try:
        return kind.parse(run.params)
    except ValidationError as error:
        raise JobInputError(f"invalid job parameters: {error.errors()[0]['msg']}") from error


def job_model(
    kind: JobKind[Any], model_id: str, params: BaseModel | None = None, param: str = "model"
) -> ModelVariant:
    """The model ``model_id`` names, able to run ``kind``'s job (for ``params``): the check the
    route made, made again here on the catalog this worker has."""
    variant = runtime.current().catalog.find(model_id)
    if variant is None:
        raise JobInputError(f"Unknown model {model_id!r}.", param=param)
    try:
        capability = kind.required_capability(params)
    except FieldError as error:
        raise JobInputError(error.message, param=error.param) from error
    refusal = kind.refusal(variant, capability)
    if refusal is not None:
        raise JobInputError(refusal, param=param)
    return variant


def builtin_actor_modules() -> tuple[str, ...]:
    """Sauti's own actor modules: every ``workers/*_jobs.py`` declares the actors of its kinds."""
    import workers

    return tuple(
        f"workers.{module.name}"
        for module in pkgutil.iter_modules(workers.__path__)
        if module.name.endswith("_jobs")
    )


def declared_in(modules: Iterable[str]) -> list[ActorSpec]:
    """The actors the modules declare (importing them declares them)."""
    names = list(dict.fromkeys(modules))
    for module in names:
        importlib.import_module(module)
    return [spec for spec in _specs.values() if spec.module in names]


def declare_actors(broker: dramatiq.Broker, modules: Iterable[str]) -> list[dramatiq.Actor[Any, Any]]:
    declared = []
    for spec in declared_in(modules):
        options = dict(spec.options)
        if spec.kinds:
            # Expected outcomes, not crashes: Dramatiq logs them without a traceback.
            options["throws"] = (
                WorkerShuttingDown,
                JobDeferred,
                JobInputError,
                *_as_tuple(options.get("throws")),
            )
        declared.append(
            dramatiq.Actor(
                spec.body,
                broker=broker,
                actor_name=spec.name,
                queue_name=spec.queue,
                priority=0,
                options=options,
            )
        )
    return declared


def _as_tuple(throws: Any) -> tuple[type[BaseException], ...]:
    if throws is None:
        return ()
    return tuple(throws) if isinstance(throws, tuple | list) else (throws,)
