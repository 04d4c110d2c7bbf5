"""Model downloads (an actor) and load/unload requests (followed by every worker process)."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from typing import Any

import httpx

from domain.catalog import ModelVariant
from domain.events import DomainEvent, deterministic_event_id
from domain.models import (
    CATEGORY,
    DownloadCancelled,
    DownloadCancelRequested,
    Downloaded,
    DownloadFailed,
    DownloadProgress,
    DownloadProgressed,
    DownloadRequested,
    Loaded,
    LoadFailed,
    LoadRequested,
    Unloaded,
    UnloadRequested,
    decode,
    model_stream_id,
)
from eventstore.base import EventFilter, EventStore
from workers import runtime
from workers.actors import message_actor
from workers.downloads import DownloadCancelled as CancelledError
from workers.downloads import DownloadError, HubDownloader
from workers.engines.model_files import ModelFiles
from workflows.jobs import WorkerShuttingDown, to_new_event
from workflows.models import DOWNLOAD_ACTOR

log = logging.getLogger(__name__)

TRANSIENT_ATTEMPTS = 5


def _append(store: EventStore, variant_id: str, event: DomainEvent, *id_parts: object) -> None:
    stream_id = model_stream_id(variant_id)
    store.append(stream_id, [to_new_event(CATEGORY, event, deterministic_event_id(stream_id, *id_parts))])


@message_actor(DOWNLOAD_ACTOR, queue="models")
def run_download(stream_id: str) -> None:
    rt = runtime.current()
    variant_id = stream_id.split("-", 1)[1]
    variant = rt.catalog.find(variant_id)
    if variant is None or rt.model_files is None:
        log.error("cannot download %s: unknown variant", variant_id)
        return
    events = [decode(e.type, e.data) for e in rt.store.read_stream(stream_id)]
    requested = [e for e in events if isinstance(e, DownloadRequested)]
    if not requested:
        return
    download_id = requested[-1].download_id
    if any(
        isinstance(e, Downloaded | DownloadFailed | DownloadCancelled) and e.download_id == download_id
        for e in events
    ):
        return  # this download already ended (a redelivered message)

    seen = [rt.store.stream_version(stream_id)]
    cancel_type = DownloadCancelRequested.type_for(CATEGORY)

    def cancelled() -> bool:
        """A cancel request for this download since the last check (only new events are read)."""
        for recorded in rt.store.read_stream(stream_id, seen[0] + 1):
            seen[0] = recorded.version
            if recorded.type == cancel_type and recorded.data.get("download_id") == download_id:
                return True
        return rt.stopping.is_set()

    def record(event: DomainEvent, *id_parts: object) -> None:
        _append(rt.store, variant.id, event, download_id, *id_parts)

    def on_progress(progress: DownloadProgress) -> None:
        event = DownloadProgressed(download_id=download_id, **dataclasses.asdict(progress))
        record(event, "progress", progress.downloaded_bytes, progress.files_completed)

    downloader = HubDownloader(rt.hub_url, rt.model_files)
    for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
        try:
            size = downloader.download(variant, on_progress, cancelled)
        except CancelledError:
            if rt.stopping.is_set():
                # A worker shutdown: the message is requeued and the download resumes from its part file.
                raise WorkerShuttingDown(stream_id) from None
            record(DownloadCancelled(download_id=download_id), "cancelled")
            return
        except httpx.TransportError as error:
            log.warning("download of %s interrupted (%s); resuming, attempt %d", variant.id, error, attempt)
            time.sleep(min(2**attempt * 0.25, 5))
            continue
        except (DownloadError, httpx.HTTPStatusError, OSError) as error:
            record(DownloadFailed(download_id=download_id, error=str(error)), "failed")
            return
        local_path = str(rt.model_files.load_path(variant))
        record(Downloaded(download_id=download_id, size_bytes=size, local_path=local_path), "downloaded")
        return
    gave_up = f"the transfer kept failing after {TRANSIENT_ATTEMPTS} tries"
    record(DownloadFailed(download_id=download_id, error=gave_up), "failed")


class LoadRecorder:
    """Records in each model's stream which worker holds it in memory, whatever loaded it (a
    job, the diarizer's warm-up, a load request) and when it is unloaded (a request, or the
    worker stopping): the Models page and the status bar show what is loaded where."""

    def __init__(self, store: EventStore, worker: str, model_files: ModelFiles) -> None:
        self.store = store
        self.worker = worker
        self.model_files = model_files

    def engine_loaded(self, variant: ModelVariant, seconds: float) -> None:
        path = str(self.model_files.load_path(variant))
        loaded = Loaded(worker=self.worker, load_seconds=round(seconds, 3), local_path=path)
        _append(self.store, variant.id, loaded, self.worker, uuid.uuid4().hex)

    def engine_unloaded(self, variant_id: str) -> None:
        _append(self.store, variant_id, Unloaded(worker=self.worker), self.worker, uuid.uuid4().hex)


class ModelRequestFollower:
    """Every worker process applies load and unload requests to its own engines."""

    def __init__(self, rt: runtime.WorkerRuntime, poll_seconds: float = 0.5) -> None:
        self.rt = rt
        self.poll_seconds = poll_seconds
        self.position = rt.store.last_position()
        self._thread = threading.Thread(target=self._run, name="model-requests", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        types = (LoadRequested.type_for(CATEGORY), UnloadRequested.type_for(CATEGORY))
        while not self.rt.stopping.wait(self.poll_seconds):
            try:
                for recorded in self.rt.store.read_all(
                    self.position, 100, EventFilter(category=CATEGORY, types=types)
                ):
                    self.position = recorded.position
                    self.apply(recorded.stream_id.split("-", 1)[1], recorded.type, recorded.event_id)
                self.position = max(self.position, self.rt.store.last_position())
            except Exception:
                log.exception("following model requests failed; retrying")

    def apply(self, variant_id: str, event_type: str, request_id: str) -> None:
        rt = self.rt
        variant = rt.catalog.find(variant_id)
        if variant is None or rt.engines is None:
            return
        worker = rt.worker_id
        event: Any
        # A load or unload that happens is recorded by the registry's listener (LoadRecorder);
        # a request with nothing to do here is answered all the same.
        recorded = rt.engines.listener is not None
        if event_type == UnloadRequested.type_for(CATEGORY):
            if rt.engines.unload(variant.id) and recorded:
                return
            event = Unloaded(worker=worker)
        else:
            already = rt.engines.is_loaded(variant.id)
            started = time.perf_counter()
            try:
                rt.engines.get(variant)
            except Exception as error:
                event = LoadFailed(worker=worker, error=f"{type(error).__name__}: {error}")
            else:
                if recorded and not already:
                    return
                event = Loaded(
                    worker=worker,
                    load_seconds=round(time.perf_counter() - started, 3),
                    local_path=str(rt.engines.model_files.load_path(variant)),
                )
        _append(rt.store, variant.id, event, request_id, worker)
