"""A Dramatiq worker process for the broker contract tests.

Run as ``python broker_worker_process.py '<json spec>'``. The spec names the backend and its
settings; the test process imports this file too (by path) so that both sides build the broker
and declare the actors the same way. Actors record what they do by appending one line per event
to ``<workdir>/records.log``: ``<event> <key> <pid> <unix time> <deliveries>``. An ``O_APPEND``
write of a short line is atomic and survives the writer being SIGKILLed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.broker import Broker
from dramatiq.middleware import CurrentMessage, Retries

QUEUE = "contract"
RECORDS = "records.log"


def build_broker(spec: dict[str, Any]) -> Broker:
    middleware = [
        CurrentMessage(),
        Retries(min_backoff=spec.get("min_backoff", 50), max_backoff=spec.get("max_backoff", 200)),
    ]
    if spec["backend"] == "sqlite":
        from eventstore.db import make_engine
        from eventstore.notifier import Doorbell
        from workers.sqlite_broker import SQLiteBroker

        return SQLiteBroker(
            make_engine(spec["url"]),
            doorbell=Doorbell(Path(spec["run_dir"])),
            lease_seconds=spec.get("lease_seconds", 30.0),
            heartbeat_seconds=spec.get("heartbeat_seconds"),
            poll_interval=spec.get("poll_interval", 0.5),
            middleware=middleware,
        )
    if spec["backend"] == "redis":
        from workers.remote_brokers import LeasedRedisBroker

        # Sauti's own Redis configuration: a worker that stops beating for a lease is dead.
        return LeasedRedisBroker(
            spec["url"],
            lease_seconds=spec.get("lease_seconds", 30.0),
            namespace=spec["namespace"],
            middleware=middleware,
        )
    if spec["backend"] == "rabbitmq":
        from workers.remote_brokers import rabbitmq_broker

        return rabbitmq_broker(
            spec["url"], lease_seconds=spec.get("lease_seconds", 30.0), middleware=middleware
        )
    raise ValueError(f"unknown backend {spec['backend']!r}")


def _append(workdir: str, event: str, key: str) -> None:
    message = CurrentMessage.get_current_message()
    deliveries = getattr(message, "deliveries", 0) if message is not None else 0
    line = f"{event} {key} {os.getpid()} {time.time():.6f} {deliveries}\n"
    fd = os.open(Path(workdir) / RECORDS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _count(workdir: str, event: str, key: str) -> int:
    path = Path(workdir) / RECORDS
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.split()[:2] == [event, key])


def record(workdir: str, key: str) -> None:
    _append(workdir, "done", key)


def slow(workdir: str, key: str, seconds: float) -> None:
    _append(workdir, "start", key)
    time.sleep(seconds)
    _append(workdir, "done", key)


def hang_first(workdir: str, key: str) -> None:
    """Hangs on its first delivery (to be killed), completes on the next ones."""
    _append(workdir, "start", key)
    if _count(workdir, "start", key) == 1:
        time.sleep(120)
    _append(workdir, "done", key)


def flaky(workdir: str, key: str, failures: int) -> None:
    _append(workdir, "attempt", key)
    if _count(workdir, "attempt", key) <= failures:
        raise RuntimeError(f"planned failure of {key}")
    _append(workdir, "done", key)


def always_fails(workdir: str, key: str) -> None:
    _append(workdir, "attempt", key)
    raise RuntimeError(f"{key} always fails")


ACTORS: dict[str, tuple[Callable[..., None], dict[str, Any]]] = {
    "record": (record, {}),
    "slow": (slow, {}),
    "hang_first": (hang_first, {}),
    "flaky": (flaky, {"max_retries": 5}),
    "always_fails": (always_fails, {"max_retries": 0}),
}


def declare_actors(broker: Broker) -> dict[str, dramatiq.Actor[Any, Any]]:
    return {
        name: dramatiq.actor(actor_name=name, queue_name=QUEUE, broker=broker, **options)(function)
        for name, (function, options) in ACTORS.items()
    }


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(threadName)s %(name)s %(levelname)s %(message)s",
    )
    broker = build_broker(spec)
    declare_actors(broker)
    worker = dramatiq.Worker(
        broker, worker_threads=spec.get("threads", 1), worker_timeout=spec.get("worker_timeout", 200)
    )
    stopping = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        logging.info("Received signal %d.", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    worker.start()
    ready = Path(spec["ready_file"])
    ready.with_suffix(".tmp").write_text(str(os.getpid()))
    ready.with_suffix(".tmp").rename(ready)
    while not stopping.wait(0.1):
        pass
    worker.stop(timeout=spec.get("stop_timeout_ms", 5000))
    broker.close()
    logging.info("Worker process exiting cleanly.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
