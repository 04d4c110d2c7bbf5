"""All of Sauti's settings: one pydantic-settings class, environment prefix ``SAUTI_``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from eventstore.db import sqlite_url


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sauti"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAUTI_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    """Defaults to ``sqlite:///<data_dir>/sauti.db``; a ``postgresql://`` URL selects Postgres."""
    broker_url: str | None = None
    """Unset: the embedded SQLite broker. ``redis://…`` or ``amqp://…`` select those brokers."""
    workers: int = 1
    worker_threads: int = 1
    worker_niceness: int = 10
    """Added to a worker process's nice value (0: none), so that inference never starves the web process."""
    cors: bool = False
    max_concurrent: int = 100
    timeout: float = 300.0
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    broker_lease_seconds: float = 30.0
    broker_poll_interval: float = 0.5
    outbox_relay_seconds: float = 1.0
    """How often each process relays outbox messages a crash or an outage left unsent (Redis, RabbitMQ)."""
    job_max_retries: int = 3
    job_min_backoff_ms: int = 1000
    job_max_backoff_ms: int = 60_000
    shutdown_grace_seconds: float = 10.0
    worker_heartbeat_seconds: float = 2.0
    worker_alive_seconds: float = 15.0
    sse_heartbeat_seconds: float = 15.0
    subscription_poll_seconds: float = 1.0
    media_sweep_interval_seconds: float = Field(default=3600.0, ge=0)
    """How often the web process deletes media files no stream claims (0: never)."""
    media_sweep_grace_seconds: float = Field(default=3600.0, ge=0)
    """The sweep spares files stored more recently than this (their events may still be coming)."""
    studio_schedule_poll_seconds: float = Field(default=0.5, ge=0)
    """How often the web process fires due Studio schedule ticks and exports finished runs (0: never)."""

    openai_compat_profile: Literal["strict", "relaxed"] = "strict"
    """``strict`` rejects non-default OpenAI fields Sauti cannot honour exactly; ``relaxed`` takes them."""
    openai_audio_upload_limit_mb: float | None = None
    """Upload limit for the OpenAI audio routes; defaults to 25 (strict) or 64 (relaxed)."""
    audio_stream_event_queue_capacity: int = Field(default=32, ge=1)
    """SSE audio events of ``/v1/audio/speech`` prepared ahead of a slow client."""
    ffmpeg_binary: str | None = None
    """The FFmpeg to use; ``none`` runs without it (no compressed response formats). Engines read
    ``SAUTI_FFMPEG_BINARY`` from the environment themselves (``workers.engines.audio``)."""

    warm_diarizer: bool = True
    """Each worker loads the default diarizer when it starts, and runs it once on a few seconds of
    noise, so that no request pays the first load and the first call (docs/diarization.md)."""

    hub_url: str = "https://huggingface.co"
    """A Hugging Face-compatible hub for model downloads."""
    model_catalog: Path | None = None
    """A JSON list of extra hub variants; defaults to ``<data_dir>/catalog.json`` when that exists."""

    actor_modules: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Extra modules that declare actors, imported by every worker (plugins, test actors)."""

    @field_validator("actor_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def cache_dir(self) -> Path:
        """Engines' caches (numba's compiled functions)."""
        return self.data_dir / "cache"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def openai_audio_upload_limit_bytes(self) -> int:
        default = 25 if self.openai_compat_profile == "strict" else 64
        limit = self.openai_audio_upload_limit_mb
        if limit is None:
            limit = default
        return int(limit * 1024 * 1024)

    @property
    def catalog_path(self) -> Path:
        return self.model_catalog or self.data_dir / "catalog.json"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir / "sauti.db")

    def environment(self) -> dict[str, str]:
        """These settings as ``SAUTI_*`` variables, for child processes."""
        env = {
            "SAUTI_DATA_DIR": str(self.data_dir),
            "SAUTI_DATABASE_URL": self.resolved_database_url,
            "SAUTI_WORKER_THREADS": str(self.worker_threads),
            "SAUTI_WORKER_NICENESS": str(self.worker_niceness),
            "SAUTI_LOG_LEVEL": self.log_level,
            "SAUTI_LOG_FORMAT": self.log_format,
            "SAUTI_BROKER_LEASE_SECONDS": str(self.broker_lease_seconds),
            "SAUTI_BROKER_POLL_INTERVAL": str(self.broker_poll_interval),
            "SAUTI_OUTBOX_RELAY_SECONDS": str(self.outbox_relay_seconds),
            "SAUTI_JOB_MAX_RETRIES": str(self.job_max_retries),
            "SAUTI_JOB_MIN_BACKOFF_MS": str(self.job_min_backoff_ms),
            "SAUTI_JOB_MAX_BACKOFF_MS": str(self.job_max_backoff_ms),
            "SAUTI_SHUTDOWN_GRACE_SECONDS": str(self.shutdown_grace_seconds),
            "SAUTI_WORKER_HEARTBEAT_SECONDS": str(self.worker_heartbeat_seconds),
            "SAUTI_ACTOR_MODULES": ",".join(self.actor_modules),
            "SAUTI_HUB_URL": self.hub_url,
            "SAUTI_MODEL_CATALOG": str(self.catalog_path),
        }
        if self.broker_url:
            env["SAUTI_BROKER_URL"] = self.broker_url
        return env
