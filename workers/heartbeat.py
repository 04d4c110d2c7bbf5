"""Worker processes announce themselves in ``worker_processes`` and beat every few seconds."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from eventstore.db import read_transaction, write_transaction
from workers.schema import worker_processes

# Rows of workers that stopped or vanished long ago are pruned on registration.
PRUNE_AFTER_SECONDS = 24 * 3600


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    pid: int
    hostname: str
    queues: list[str]
    started_at: float
    heartbeat_at: float
    stopped_at: float | None

    def to_json(self, now: float, alive_within: float) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "pid": self.pid,
            "hostname": self.hostname,
            "queues": self.queues,
            "started_at": self.started_at,
            "last_heartbeat_secs_ago": round(now - self.heartbeat_at, 3),
            "alive": self.stopped_at is None and now - self.heartbeat_at <= alive_within,
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

    def beat(self, worker_id: str) -> None:
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(worker_processes)
                .where(worker_processes.c.worker_id == worker_id)
                .values(heartbeat_at=time.time())
            )

    def stopped(self, worker_id: str) -> None:
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(worker_processes)
                .where(worker_processes.c.worker_id == worker_id)
                .values(stopped_at=time.time())
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
                )
                for row in rows
            ]

    def alive(self, within_seconds: float) -> list[WorkerInfo]:
        now = time.time()
        return [w for w in self.all() if w.stopped_at is None and now - w.heartbeat_at <= within_seconds]
