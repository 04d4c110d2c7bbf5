"""The one place that wires settings, the database, the event store, projections and the broker."""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass, field

import dramatiq
from sqlalchemy import Engine

from app.logging import request_id_var
from app.projections.chat_threads import ChatThreadsProjection
from app.projections.job_timings import JobTimingsProjection
from app.projections.jobs import JobsProjection
from app.projections.media_objects import MediaObjectsProjection
from app.projections.media_refs import MediaReferencesProjection
from app.projections.recordings import RecordsReadModel
from app.projections.saved_voices import SavedVoicesProjection
from app.projections.speech_records import SpeechRecordsProjection
from app.projections.stt_records import SttRecordsProjection
from app.projections.studio import (
    StudioFoldersProjection,
    StudioProjectsProjection,
    StudioRenderQueue,
    StudioRendersProjection,
)
from app.projections.studio_schedules import StudioSchedulesProjection
from app.projections.voice_sessions import VoiceSessionsProjection
from app.settings import Settings
from domain.catalog import Catalog, CatalogError
from domain.telemetry import APPEND_SECONDS, Histogram
from eventstore.db import make_engine
from eventstore.media import MediaStore
from eventstore.notifier import EVENTS_TOPIC, Doorbell
from eventstore.projections import ProjectionRegistry
from eventstore.sql import SqlEventStore
from eventstore.upcasting import Upcasters
from workers.actors import builtin_actor_modules, declare_actors
from workers.broker import BrokerOptions, broker_kind, make_broker
from workers.dispatch import BrokerDispatcher
from workers.engines.model_files import ModelFiles
from workers.engines.registry import EngineRegistry
from workers.heartbeat import WorkerRegistry
from workers.middleware import JobRetries
from workers.outbox import Outbox, OutboxRelay
from workers.runtime import WorkerRuntime
from workflows.jobs import JobService
from workflows.models import ModelService


def load_catalog(settings: Settings) -> Catalog:
    path = settings.catalog_path
    if not path.is_file():
        return Catalog()
    try:
        extra = json.loads(path.read_text())
    except ValueError as error:
        raise CatalogError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(extra, list):
        raise CatalogError(f"{path} must hold a JSON list of model entries")
    return Catalog.with_extra(extra)


def build_projections() -> ProjectionRegistry:
    return ProjectionRegistry(
        [
            JobsProjection(),
            JobTimingsProjection(),
            SttRecordsProjection(),
            MediaReferencesProjection(),
            SavedVoicesProjection(),
            SpeechRecordsProjection(),
            MediaObjectsProjection(),
            StudioFoldersProjection(),
            StudioProjectsProjection(),
            StudioRendersProjection(),
            StudioSchedulesProjection(),
            ChatThreadsProjection(),
            VoiceSessionsProjection(),
        ]
    )


def build_upcasters() -> Upcasters:
    return Upcasters()


def request_metadata() -> dict[str, str]:
    """Event metadata from the HTTP request being served, if any."""
    request_id = request_id_var.get()
    return {"request_id": request_id} if request_id else {}


@dataclass
class Container:
    settings: Settings
    engine: Engine
    doorbell: Doorbell
    projections: ProjectionRegistry
    store: SqlEventStore
    broker: dramatiq.Broker
    jobs: JobService
    workers: WorkerRegistry
    catalog: Catalog
    model_files: ModelFiles
    models: ModelService
    media: MediaStore
    broker_kind: str = field(default="sqlite")
    outbox: Outbox | None = None
    """Set for brokers outside the database; every web and worker process relays it."""
    append_seconds: Histogram = field(default_factory=lambda: Histogram(APPEND_SECONDS))
    """How long this process's appends take (its store observes every write transaction)."""

    def worker_runtime(self, worker_id: str, engines: EngineRegistry) -> WorkerRuntime:
        """What a worker process's actors run with, on this container (``sauti worker``, tests)."""
        return WorkerRuntime(
            store=self.store,
            worker_id=worker_id,
            catalog=self.catalog,
            model_files=engines.model_files,
            engines=engines,
            hub_url=self.settings.hub_url,
            media=self.media,
            dispatcher=self.jobs.dispatcher,
            render_queue=StudioRenderQueue(self.engine),
            recordings=RecordsReadModel(self.engine),
        )

    def start_outbox_relay(self) -> OutboxRelay | None:
        return OutboxRelay(self.outbox, self.settings.outbox_relay_seconds).start() if self.outbox else None

    def close(self) -> None:
        self.broker.close()
        self.engine.dispose()


def bootstrap(settings: Settings) -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    doorbell = Doorbell.for_data_dir(settings.data_dir)
    projections = build_projections()
    append_seconds = Histogram(APPEND_SECONDS)
    store = SqlEventStore(
        engine,
        projector=projections,
        upcasters=build_upcasters(),
        after_commit=lambda: doorbell.ring(EVENTS_TOPIC),
        metadata_provider=request_metadata,
        append_observer=append_seconds.observe,
    )
    options = BrokerOptions(
        url=settings.broker_url,
        lease_seconds=settings.broker_lease_seconds,
        poll_interval=settings.broker_poll_interval,
        prefetch=settings.worker_threads,
        max_retries=settings.job_max_retries,
        min_backoff_ms=settings.job_min_backoff_ms,
        max_backoff_ms=settings.job_max_backoff_ms,
    )
    broker = make_broker(options, engine=engine, store=store, doorbell=doorbell)
    dramatiq.set_broker(broker)
    declare_actors(broker, (*builtin_actor_modules(), *settings.actor_modules))
    catalog = load_catalog(settings)
    model_files = ModelFiles(settings.models_dir)
    kind = broker_kind(settings.broker_url)
    outbox = None if kind == "sqlite" else Outbox(engine, broker)
    for middleware in broker.middleware:
        if isinstance(middleware, JobRetries):
            middleware.fallback = outbox
    dispatcher = BrokerDispatcher(broker, outbox)
    return Container(
        settings=settings,
        engine=engine,
        doorbell=doorbell,
        projections=projections,
        store=store,
        broker=broker,
        jobs=JobService(store, dispatcher),
        workers=WorkerRegistry(engine),
        catalog=catalog,
        model_files=model_files,
        models=ModelService(
            store,
            catalog,
            lambda variant: model_files.bundle_available(variant) or model_files.is_present(variant),
            dispatcher,
            model_files.delete,
        ),
        media=MediaStore(settings.media_dir),
        broker_kind=kind,
        outbox=outbox,
        append_seconds=append_seconds,
    )


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
