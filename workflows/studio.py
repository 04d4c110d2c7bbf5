"""Reading a Studio project from its stream, for the routes and the render actor alike, and the
port through which a render job learns that a more urgent one waits."""

from __future__ import annotations

from typing import Protocol

from domain.events import stream_id
from domain.studio import CATEGORY, Project, fold, fold_input
from eventstore.base import EventStore, RecordedEvent


def load_project(store: EventStore, project_id: str) -> tuple[Project | None, list[RecordedEvent]]:
    """The project folded from its stream (None when it does not exist or was deleted), and the
    events it was folded from."""
    recorded = store.read_stream(stream_id(CATEGORY, project_id))
    project = fold(fold_input(recorded)) if recorded else None
    return (None if project is None or project.deleted else project), recorded


class RenderQueue(Protocol):
    """The render jobs waiting to start, as the read model shows them."""

    def outranked_by(self, job_id: str) -> str | None:
        """A queued render job of a higher priority than ``job_id``'s (the most urgent), if any."""
        ...
