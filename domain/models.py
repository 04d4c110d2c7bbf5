"""A model variant's life as an event stream ``model-<variant>``.

not_downloaded → downloading → downloaded → loading → ready, and error. Downloads, loads,
unloads and deletions are recorded here; the status is a fold of these events over the
variant's base status (bundled variants are ``downloaded`` as soon as their packages are
installed).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from domain.errors import InvalidTransition
from domain.events import DomainEvent

ModelStatus = Literal["not_downloaded", "downloading", "downloaded", "loading", "ready", "error"]
CATEGORY = "model"


def model_stream_id(variant_id: str) -> str:
    return f"{CATEGORY}-{variant_id}"


class DownloadRequested(DomainEvent):
    verb = "download_requested"
    download_id: str
    files_total: int


class DownloadProgressed(DomainEvent):
    verb = "download_progressed"
    download_id: str
    downloaded_bytes: int
    total_bytes: int
    current_file: str
    current_file_downloaded: int
    current_file_total: int
    files_completed: int
    files_total: int


class Downloaded(DomainEvent):
    verb = "downloaded"
    download_id: str
    size_bytes: int
    local_path: str


class DownloadFailed(DomainEvent):
    verb = "download_failed"
    download_id: str
    error: str


class DownloadCancelRequested(DomainEvent):
    verb = "download_cancel_requested"
    download_id: str


class DownloadCancelled(DomainEvent):
    verb = "download_cancelled"
    download_id: str


class LoadRequested(DomainEvent):
    verb = "load_requested"


class Loaded(DomainEvent):
    verb = "loaded"
    worker: str
    load_seconds: float
    local_path: str


class LoadFailed(DomainEvent):
    verb = "load_failed"
    worker: str
    error: str


class UnloadRequested(DomainEvent):
    verb = "unload_requested"


class Unloaded(DomainEvent):
    verb = "unloaded"
    worker: str


class Deleted(DomainEvent):
    verb = "deleted"
    freed_bytes: int


MODEL_EVENTS: tuple[type[DomainEvent], ...] = (
    DownloadRequested,
    DownloadProgressed,
    Downloaded,
    DownloadFailed,
    DownloadCancelRequested,
    DownloadCancelled,
    LoadRequested,
    Loaded,
    LoadFailed,
    UnloadRequested,
    Unloaded,
    Deleted,
)
_BY_TYPE = {cls.type_for(CATEGORY): cls for cls in MODEL_EVENTS}


def decode(event_type: str, data: dict[str, Any]) -> DomainEvent | None:
    cls = _BY_TYPE.get(event_type)
    return cls.model_validate(data) if cls is not None else None


@dataclass(frozen=True)
class DownloadProgress:
    downloaded_bytes: int = 0
    total_bytes: int = 0
    current_file: str = ""
    current_file_downloaded: int = 0
    current_file_total: int = 0
    files_completed: int = 0
    files_total: int = 0

    @property
    def percent(self) -> float:
        return round(100.0 * self.downloaded_bytes / self.total_bytes, 2) if self.total_bytes else 0.0


@dataclass(frozen=True)
class ModelState:
    files_present: bool
    """A fact about the disk and the installed packages, not about events: the reader supplies it."""
    download_id: str | None = None
    downloading: bool = False
    cancel_requested: bool = False
    progress: DownloadProgress = field(default_factory=DownloadProgress)
    download_outcome: Literal["completed", "error", "cancelled"] | None = None
    loaded_on: frozenset[str] = frozenset()
    loading: bool = False
    error: str | None = None

    @property
    def status(self) -> ModelStatus:
        if self.downloading:
            return "downloading"
        if self.loaded_on:
            return "ready"
        if self.loading:
            return "loading"
        if self.error is not None:
            return "error"
        return "downloaded" if self.files_present else "not_downloaded"


def evolve(state: ModelState, event: DomainEvent) -> ModelState:
    match event:
        case DownloadRequested(download_id=download_id, files_total=files_total):
            return replace(
                state,
                download_id=download_id,
                downloading=True,
                cancel_requested=False,
                progress=DownloadProgress(files_total=files_total),
                download_outcome=None,
                error=None,
            )
        case DownloadProgressed() as p:
            return replace(
                state,
                progress=DownloadProgress(
                    p.downloaded_bytes,
                    p.total_bytes,
                    p.current_file,
                    p.current_file_downloaded,
                    p.current_file_total,
                    p.files_completed,
                    p.files_total,
                ),
            )
        case Downloaded(size_bytes=size):
            done = replace(
                state.progress, downloaded_bytes=size, total_bytes=size or state.progress.total_bytes
            )
            done = replace(done, files_completed=done.files_total)
            return replace(state, downloading=False, progress=done, download_outcome="completed")
        case DownloadFailed(error=error):
            return replace(state, downloading=False, download_outcome="error", error=error)
        case DownloadCancelRequested():
            return replace(state, cancel_requested=True)
        case DownloadCancelled():
            return replace(state, downloading=False, download_outcome="cancelled")
        case LoadRequested():
            return replace(state, loading=True, error=None)
        case Loaded(worker=worker):
            return replace(state, loading=False, loaded_on=state.loaded_on | {worker}, error=None)
        case LoadFailed(error=error):
            return replace(state, loading=False, error=error)
        case Unloaded(worker=worker):
            return replace(state, loaded_on=state.loaded_on - {worker})
        case UnloadRequested():
            return replace(state, loading=False)
        case Deleted():
            return replace(state, loaded_on=frozenset(), loading=False, error=None, download_outcome=None)
    return state


def require_download_allowed(state: ModelState, variant_id: str, source: str) -> None:
    if source != "hub":
        where = "ships with Sauti" if source == "bundled" else "is a local model"
        raise InvalidTransition(f"{variant_id} {where}; there is nothing to download")
    if state.downloading:
        raise InvalidTransition(f"{variant_id} is already downloading")
    if state.files_present:
        raise InvalidTransition(f"{variant_id} is already downloaded")


def fold(events: list[DomainEvent], files_present: bool) -> ModelState:
    state = ModelState(files_present=files_present)
    for event in events:
        state = evolve(state, event)
    return state
