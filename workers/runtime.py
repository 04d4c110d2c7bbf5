"""What a worker process's actors need at run time, installed once by the bootstrap."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from domain.catalog import Catalog
from eventstore.base import EventStore
from eventstore.media import MediaStore
from workers.engines.model_files import ModelFiles
from workers.engines.registry import EngineRegistry
from workflows.agents import Recordings
from workflows.jobs import JobDispatcher
from workflows.studio import RenderQueue


@dataclass
class WorkerRuntime:
    store: EventStore
    worker_id: str
    catalog: Catalog = field(default_factory=Catalog)
    model_files: ModelFiles | None = None
    engines: EngineRegistry | None = None
    hub_url: str = "https://huggingface.co"
    media: MediaStore | None = None
    dispatcher: JobDispatcher | None = None
    """Sends follow-up messages (e.g. a summary after a transcript) from inside an actor."""
    stopping: threading.Event = field(default_factory=threading.Event)
    render_queue: RenderQueue | None = None
    """Where a Studio render learns that a more urgent render waits (None: never gives way)."""
    recordings: Recordings | None = None
    """What an agent's tools read of the user's recordings."""


_current: WorkerRuntime | None = None


def install(runtime: WorkerRuntime) -> None:
    global _current
    _current = runtime


def current() -> WorkerRuntime:
    if _current is None:
        raise RuntimeError("no worker runtime is installed: actors run only inside `sauti worker`")
    return _current


def media() -> MediaStore:
    """The media store of the running worker (actors read inputs and write outputs there)."""
    store = current().media
    if store is None:
        raise RuntimeError("this worker runtime has no media store")
    return store


def engines() -> EngineRegistry:
    registry = current().engines
    if registry is None:
        raise RuntimeError("this worker runtime has no engine registry")
    return registry
