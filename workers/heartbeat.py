"""Worker processes announce themselves in ``worker_processes`` and beat every few seconds.

Each beat also carries the worker's own telemetry (``WorkerMetrics``: its append latencies, the
models it has loaded), so that the metrics of the web process can add up every worker, on any
host, from the database they share.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Engine, delete, insert, select, update

from domain.telemetry import Histogram, HistogramSnapshot
from eventstore.db import read_transaction, write_transaction
from workers.schema import worker_processes

# Rows of workers that stopped or vanished long ago are pruned on registration.
PRUNE_AFTER_SECONDS = 24 * 3600


class WorkerMetrics(BaseModel):
    """What a worker process reports of itself with each beat."""

    model_config = ConfigDict(frozen=True)

    append_seconds: HistogramSnapshot
    """The process's event-store write transactions that appended, since it started."""
    models_loaded: tuple[str, ...] = ()
    """The model variants its engine registry holds now."""

    @classmethod
    def parse(cls, raw: str | None) -> WorkerMetrics | None:
        """A stored report; None when there is none or it is not one (a newer worker's shape)."""
        if not raw:
            return None
        try:
            return cls.model_validate_json(raw)
        except ValidationError:
            return None


MetricsReport = Callable[[], WorkerMetrics]


class LoadedModels(Protocol):
    def loaded(self) -> list[str]: ...


def metrics_report(append_seconds: Histogram, engines: LoadedModels | None) -> MetricsReport:
    """The report of a worker whose store observes into ``append_seconds``."""

    def report() -> WorkerMetrics:
        return WorkerMetrics(
            append_seconds=append_seconds.snapshot(),
            models_loaded=tuple(engines.loaded()) if engines is not None else (),
        )

    return report


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    pid: int
    hostname: str
    queues: list[str]
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    metrics: WorkerMetrics | None = None

    def is_alive(self, now: float, alive_within: float) -> bool:
        return self.stopped_at is None and now - self.heartbeat_at <= alive_within

    def to_json(self, now: float, alive_within: float) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "pid": self.pid,
            "hostname": self.hostname,
            "queues": self.queues,
            "started_at": self.started_at,
            "last_heartbeat_secs_ago": round(now - self.heartbeat_at, 3),
            "alive": self.is_alive(now, alive_within),
        }


class WorkerRegistry:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def register(self, worker_id: str, queues: list[str]) -> None:
        now = time.time()
        with write_transaction(self.engine) as connection:
            connection.execute(
                delete(worker_processes).where(worker_processes.c.heartbeat_at < now - PRUNE_AFTER_SECONDS)
            )
            connection.execute(
                insert(worker_processes).values(
                    worker_id=worker_id,
                    pid=os.getpid(),
                    hostname=socket.gethostname(),
                    queues=json.dumps(sorted(queues)),
                    started_at=now,
                    heartbeat_at=now,
                )
            )

    def beat(self, worker_id: str, metrics: WorkerMetrics | None = None) -> None:
        values: dict[str, Any] = {"heartbeat_at": time.time()}
        if metrics is not None:
            values["metrics"] = metrics.model_dump_json()
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(worker_processes).where(worker_processes.c.worker_id == worker_id).values(**values)
            )

    def stopped(self, worker_id: str, metrics: WorkerMetrics | None = None) -> None:
        values: dict[str, Any] = {"stopped_at": time.time()}
        if metrics is not None:
            values["metrics"] = metrics.model_dump_json()
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(worker_processes).where(worker_processes.c.worker_id == worker_id).values(**values)
            )

    def exited(self, pid: int) -> None:
        """A supervisor saw this child process exit: it is not alive, whatever its last beat."""
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(worker_processes)
                .where(
                    worker_processes.c.pid == pid,
                    worker_processes.c.hostname == socket.gethostname(),
                    worker_processes.c.stopped_at.is_(None),
                )
                .values(stopped_at=time.time())
            )

    def all(self) -> list[WorkerInfo]:
        with read_transaction(self.engine) as connection:
            rows = connection.execute(select(worker_processes).order_by(worker_processes.c.started_at))
            return [
                WorkerInfo(
                    worker_id=row.worker_id,
                    pid=row.pid,
                    hostname=row.hostname,
                    queues=json.loads(row.queues),
                    started_at=row.started_at,
                    heartbeat_at=row.heartbeat_at,
                    stopped_at=row.stopped_at,
                    metrics=WorkerMetrics.parse(row.metrics),
                )
                for row in rows
            ]

    def alive(self, within_seconds: float) -> list[WorkerInfo]:
        now = time.time()
        return [w for w in self.all() if w.is_alive(now, within_seconds)]
