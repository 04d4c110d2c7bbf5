"""Model administration: the state of each variant, and the requests that change it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from domain.catalog import Catalog, ModelVariant
from domain.errors import InvalidTransition, NotFound
from domain.events import DomainEvent
from domain.models import (
    CATEGORY,
    Deleted,
    DownloadCancelled,
    DownloadCancelRequested,
    DownloadRequested,
    LoadRequested,
    ModelState,
    UnloadRequested,
    decode,
    evolve,
    model_stream_id,
    require_download_allowed,
)
from eventstore.base import ConcurrencyError, EventFilter, EventStore, RecordedEvent
from workflows.jobs import MAX_CONFLICT_RETRIES, JobDispatcher, to_new_event

DOWNLOAD_ACTOR = "model_download"
_PAGE = 1000


@dataclass(frozen=True)
class ModelView:
    variant: ModelVariant
    state: ModelState
    version: int


class ModelService:
    def __init__(
        self,
        store: EventStore,
        catalog: Catalog,
        files_present: Callable[[ModelVariant], bool],
        dispatcher: JobDispatcher,
        delete_files: Callable[[ModelVariant], int],
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.files_present = files_present
        self.dispatcher = dispatcher
        self.delete_files = delete_files

    def variant(self, model_id: str) -> ModelVariant:
        variant = self.catalog.find(model_id)
        if variant is None:
            raise NotFound(f"Unknown model variant {model_id!r}. GET /v1/admin/models lists them.")
        return variant

    def view(self, model_id: str) -> ModelView:
        variant = self.variant(model_id)
        return self._fold(variant, self.store.read_stream(model_stream_id(variant.id)))

    def views(self) -> list[ModelView]:
        """Every variant's view, from one pass over the model events rather than one read per
        variant (the catalog lists a few dozen)."""
        by_stream: dict[str, list[RecordedEvent]] = defaultdict(list)
        after, wanted = 0, EventFilter(category=CATEGORY)
        while page := self.store.read_all(after, _PAGE, wanted):
            for recorded in page:
                by_stream[recorded.stream_id].append(recorded)
            after = page[-1].position
        return [self._fold(variant, by_stream[model_stream_id(variant.id)]) for variant in self.catalog]

    def _fold(self, variant: ModelVariant, recorded_events: Iterable[RecordedEvent]) -> ModelView:
        state = ModelState(files_present=self.files_present(variant))
        version = 0
        for recorded in recorded_events:
            event = decode(recorded.type, recorded.data)
            if event is not None:
                state = evolve(state, event)
            version = recorded.version
        return ModelView(variant, state, version)

    def _append(
        self, model_id: str, decide: Callable[[ModelView], list[DomainEvent]], meta: dict[str, Any]
    ) -> ModelView:
        for _ in range(MAX_CONFLICT_RETRIES):
            view = self.view(model_id)
            events = decide(view)
            if not events:
                return view
            try:
                self.store.append(
                    model_stream_id(view.variant.id),
                    [to_new_event(CATEGORY, e, metadata=meta) for e in events],
                    view.version,
                )
            except ConcurrencyError:
                continue
            return self.view(model_id)
        raise ConcurrencyError(model_stream_id(model_id), "any", -1)

    def request_download(self, model_id: str, metadata: dict[str, Any] | None = None) -> ModelView:
        view = self.view(model_id)
        require_download_allowed(view.state, view.variant.id, view.variant.source)
        download_id = uuid.uuid4().hex
        stream_id = model_stream_id(view.variant.id)
        event = DownloadRequested(download_id=download_id, files_total=len(view.variant.files))
        with self.store.transaction() as tx:
            tx.append(stream_id, [to_new_event(CATEGORY, event, metadata=metadata)], view.version)
            self.dispatcher.dispatch(tx, DOWNLOAD_ACTOR, stream_id, str(uuid.uuid4()))
        return self.view(model_id)

    def cancel_download(self, model_id: str, metadata: dict[str, Any] | None = None) -> ModelView:
        def decide(view: ModelView) -> list[DomainEvent]:
            if not view.state.downloading or view.state.download_id is None:
                raise InvalidTransition(f"{view.variant.id} has no download in progress")
            if view.state.cancel_requested:
                return []
            return [DownloadCancelRequested(download_id=view.state.download_id)]

        return self._append(model_id, decide, metadata or {})

    def request_load(self, model_id: str, metadata: dict[str, Any] | None = None) -> ModelView:
        def decide(view: ModelView) -> list[DomainEvent]:
            if not view.state.files_present:
                raise InvalidTransition(f"{view.variant.id} is not downloaded: POST …/download first")
            if view.state.loading or view.state.loaded_on:
                return []
            return [LoadRequested()]

        return self._append(model_id, decide, metadata or {})

    def request_unload(self, model_id: str, metadata: dict[str, Any] | None = None) -> ModelView:
        def decide(view: ModelView) -> list[DomainEvent]:
            if not view.state.loaded_on and not view.state.loading:
                return []
            return [UnloadRequested()]

        return self._append(model_id, decide, metadata or {})

    def delete(self, model_id: str, metadata: dict[str, Any] | None = None) -> ModelView:
        """Unload everywhere, then remove the local files (bundled packages stay installed)."""

        freed = self.delete_files(self.variant(model_id))

        def decide(view: ModelView) -> list[DomainEvent]:
            events: list[DomainEvent] = []
            if view.state.downloading and view.state.download_id:
                events += [
                    DownloadCancelRequested(download_id=view.state.download_id),
                    DownloadCancelled(download_id=view.state.download_id),
                ]
            if view.state.loaded_on or view.state.loading:
                events.append(UnloadRequested())
            events.append(Deleted(freed_bytes=freed))
            return events

        return self._append(model_id, decide, metadata or {})
