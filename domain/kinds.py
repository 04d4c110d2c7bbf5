"""Job kinds: each declared once, in its domain module, and read by every layer.

A ``JobKind`` names a job's stream category, the actor that runs it, its params model, the
capability its model must have, its result model and, for a kind whose jobs are records, the
record read model and the status vocabulary its records show. Routes submit a kind, actors are
declared for a kind, projections follow a kind's category, and the job follower reads a kind's
terminal events, so none of them repeat these strings.

Kinds register in ``KINDS`` when their module is imported; a category belongs to one kind.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from domain.capabilities import Capability
from domain.catalog import Modality, ModelVariant
from domain.events import stream_id
from domain.jobs import JOB_STATUSES, TERMINAL_VERBS, JobStatus

P = TypeVar("P", bound=BaseModel)

DEFAULT_QUEUE = "default"


class OpenParams(BaseModel):
    """Params of any shape, for a kind whose actor reads them itself (the test-only probes)."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class RecordKind:
    """What the records of a kind show: a job stream whose params ask for a record."""

    projection: str
    """The read model that keeps the records (its ``name``)."""
    statuses: Mapping[JobStatus, str]
    """The status vocabulary: what a record shows for each job status."""
    capability: Capability | None = None
    """The capability a record's model needs, when it differs from the kind's."""
    always: bool = False
    """Every job of the kind is a record (otherwise only those whose params say ``record``)."""


@dataclass(frozen=True, eq=False)
class JobKind(Generic[P]):
    name: str
    category: str
    """The stream category: the kind's jobs are ``<category>-<job id>`` streams."""
    actor: str
    """The Dramatiq actor that runs the job (several kinds may share one)."""
    params: type[P]
    capability: Capability | None = None
    """What the model named by the params' ``model`` must be able to do."""
    result: type[BaseModel] | None = None
    """The completed event's ``result``."""
    record: RecordKind | None = None
    capability_of: Callable[[P], Capability] | None = None
    """Where the capability depends on the params (a speech record's family)."""
    modality: Modality | None = None
    """A modality the model must have besides the capability (an ASR model outputs text)."""
    queue: str = DEFAULT_QUEUE
    terminal_types: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        stream_id(self.category, "x")  # validates the category
        object.__setattr__(self, "terminal_types", frozenset(f"{self.category}.{v}" for v in TERMINAL_VERBS))

    def stream_id(self, job_id: str) -> str:
        return stream_id(self.category, job_id)

    def parse(self, raw: Mapping[str, Any]) -> P:
        """The job's params (pydantic's ValidationError when they do not fit)."""
        return self.params.model_validate(raw)

    def is_record(self, params: BaseModel) -> bool:
        if self.record is None:
            return False
        return self.record.always or bool(getattr(params, "record", False))

    def required_capability(
        self, params: P | None = None, *, record: bool | None = None
    ) -> Capability | None:
        """The capability the job's model needs: for these params, or (before they exist) for a
        record or a plain job of the kind."""
        if params is not None and self.capability_of is not None:
            return self.capability_of(params)
        is_record = self.is_record(params) if params is not None else bool(record)
        if is_record and self.record is not None and self.record.capability is not None:
            return self.record.capability
        return self.capability

    def refusal(self, variant: ModelVariant, capability: Capability | None) -> str | None:
        """Why ``variant`` cannot run this kind's job, or None when it can: the one check both the
        route (a 400) and the worker (a failed job) make."""
        if capability is not None and not variant.can(capability):
            return f"Model {variant.id} does not support {capability.value}."
        if self.modality is not None and self.modality not in variant.modalities:
            return f"Model {variant.id} has no {self.modality} ({self.name} needs it)."
        return None

    def is_terminal(self, event_type: str) -> bool:
        return event_type in self.terminal_types

    def record_status(self, status: JobStatus) -> str:
        """What a record of this kind shows for a job status (the job's own status otherwise)."""
        return self.record.statuses[status] if self.record is not None else JOB_STATUSES[status]


class JobKinds:
    """The kinds known to this process, by name and by category."""

    def __init__(self) -> None:
        self._by_name: dict[str, JobKind[Any]] = {}
        self._by_category: dict[str, JobKind[Any]] = {}

    def register(self, kind: JobKind[P]) -> JobKind[P]:
        known = self._by_category.get(kind.category)
        if known is not None and known is not kind:
            raise ValueError(f"the stream category {kind.category!r} already belongs to {known.name}")
        if kind.name in self._by_name and self._by_name[kind.name] is not kind:
            raise ValueError(f"a job kind named {kind.name!r} is already declared")
        self._by_name[kind.name] = kind
        self._by_category[kind.category] = kind
        return kind

    def __iter__(self) -> Iterator[JobKind[Any]]:
        return iter(self._by_name.values())

    def of_stream(self, stream: str) -> JobKind[Any] | None:
        return self._by_category.get(stream.partition("-")[0])


KINDS = JobKinds()


def declare(kind: JobKind[P]) -> JobKind[P]:
    """Register a kind in ``KINDS``: ``TRANSCRIPTION = declare(JobKind(name=..., ...))``."""
    return KINDS.register(kind)
