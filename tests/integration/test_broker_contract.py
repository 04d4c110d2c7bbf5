"""Contract tests of a Dramatiq broker, run with real worker processes.

The embedded SQLite broker, and Sauti's Redis and RabbitMQ brokers on throw-away servers
(tests/servers.py): the same tests, so each backend means the same thing by ready, leased,
dead, retry and redelivery.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from dramatiq.broker import Broker
from dramatiq.errors import QueueJoinTimeout, QueueNotFound
from sqlalchemy import Engine, func, select

from eventstore.db import make_engine, write_transaction
from eventstore.notifier import run_dir_for
from migrations.api import upgrade
from tests.conftest import server_or_skip
from workers.schema import queue_messages
from workers.sqlite_broker import SQLiteBroker

HELPER_PATH = Path(__file__).with_name("broker_worker_process.py")
REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sauti_broker_worker_process", HELPER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helper = _load_helper()
QUEUE: str = helper.QUEUE


@dataclass
class Record:
    event: str
    key: str
    pid: int
    at: float
    deliveries: int


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Backend:
    """One broker implementation: how to configure it and how to look inside it."""

    name: str
    spec: dict[str, Any]
    engine: Engine | None = None
    client: Any = None
    brokers: list[Broker] = field(default_factory=list)

    def broker(self) -> tuple[Broker, dict[str, Any]]:
        broker = helper.build_broker(self.spec)
        self.brokers.append(broker)
        return broker, helper.declare_actors(broker)

    def counts(self) -> dict[str, int]:
        """ready/leased/dead counts of the test queue (Redis: ready includes in-flight)."""
        if self.engine is not None:
            with self.engine.connect() as connection:
                rows = connection.execute(
                    select(queue_messages.c.state, func.count())
                    .where(queue_messages.c.queue_name == QUEUE)
                    .group_by(queue_messages.c.state)
                ).all()
            return {"ready": 0, "leased": 0, "dead": 0, **{state: count for state, count in rows}}
        if self.name == "rabbitmq":
            return self._rabbitmq_counts()
        ns = self.spec["namespace"]
        leased = sum(self.client.scard(key) for key in self.client.scan_iter(f"{ns}:__acks__.*"))
        pending = self.client.hlen(f"{ns}:{QUEUE}.msgs") + self.client.hlen(f"{ns}:{QUEUE}.DQ.msgs")
        return {"ready": pending - leased, "leased": leased, "dead": self.client.zcard(f"{ns}:{QUEUE}.XQ")}

    def _rabbitmq_counts(self) -> dict[str, int]:
        output = self.client.ctl(
            "list_queues", "-q", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged"
        )
        counts = {"ready": 0, "leased": 0, "dead": 0}
        for line in output.splitlines():
            name, ready, unacked = line.split()
            if name in (QUEUE, f"{QUEUE}.DQ"):
                counts["ready"] += int(ready)
                counts["leased"] += int(unacked)
            elif name == f"{QUEUE}.XQ":
                counts["dead"] += int(ready)
        return counts

    def pending(self) -> int:
        counts = self.counts()
        return counts["ready"] + counts["leased"]

    def close(self) -> None:
        for broker in self.brokers:
            broker.close()
        if self.engine is not None:
            self.engine.dispose()
        if self.name == "redis":
            keys = list(self.client.scan_iter(f"{self.spec['namespace']}:*"))
            if keys:
                self.client.delete(*keys)
        if self.name == "rabbitmq":
            import pika

            connection = pika.BlockingConnection(pika.URLParameters(self.spec["url"]))
            channel = connection.channel()
            for queue in (QUEUE, f"{QUEUE}.DQ", f"{QUEUE}.XQ"):
                channel.queue_delete(queue)
            connection.close()


@pytest.fixture(params=["sqlite", "redis", "rabbitmq"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/sauti.db"
        upgrade(url)
        spec = {"backend": "sqlite", "url": url, "run_dir": str(run_dir_for(tmp_path))}
        backend = Backend("sqlite", spec, engine=make_engine(url))
    elif request.param == "redis":
        import redis

        server = server_or_skip("redis")
        spec = {"backend": "redis", "url": server.url, "namespace": f"sauti-test-{uuid.uuid4().hex[:8]}"}
        backend = Backend("redis", spec, client=redis.Redis.from_url(server.url))
    else:
        server = server_or_skip("rabbitmq")
        backend = Backend("rabbitmq", {"backend": "rabbitmq", "url": server.url}, client=server)
    try:
        yield backend
    finally:
        backend.close()


class Harness:
    def __init__(self, backend: Backend, tmp_path: Path) -> None:
        self.backend = backend
        self.workdir = tmp_path
        self.workers: list[WorkerProcess] = []

    def start_worker(self, **settings: Any) -> WorkerProcess:
        index = len(self.workers)
        ready = self.workdir / f"worker-{index}.ready"
        log_path = self.workdir / f"worker-{index}.log"
        spec = {**self.backend.spec, "ready_file": str(ready), **settings}
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(HELPER_PATH), json.dumps(spec)],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        worker = WorkerProcess(process, log_path)
        self.workers.append(worker)
        self.wait_for(lambda: ready.exists() or process.poll() is not None, 20, "worker to start")
        assert process.poll() is None, f"worker exited early:\n{self.logs()}"
        return worker

    def stop(self, worker: WorkerProcess, sig: signal.Signals = signal.SIGTERM, timeout: float = 15) -> int:
        worker.process.send_signal(sig)
        try:
            return worker.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {worker.pid} did not exit after {sig.name}:\n{self.logs()}")

    def shutdown(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in self.workers:
            try:
                worker.process.wait(10)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()

    def records(self, event: str | None = None, key: str | None = None) -> list[Record]:
        path = self.workdir / helper.RECORDS
        if not path.exists():
            return []
        records = []
        for line in path.read_text().splitlines():
            name, record_key, pid, at, deliveries = line.split()
            if (event is None or name == event) and (key is None or record_key == key):
                records.append(Record(name, record_key, int(pid), float(at), int(deliveries)))
        return records

    def keys(self, event: str) -> list[str]:
        return [record.key for record in self.records(event)]

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {worker.pid} ---\n{worker.log_path.read_text()[-4000:]}" for worker in self.workers
        )

    def wait_for(self, condition: Callable[[], object], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout}s waiting for {what}; records={self.records()}; "
                    f"counts={self.backend.counts()}\n{self.logs()}"
                )
            time.sleep(0.05)

    def wait_until_drained(self, timeout: float = 20) -> None:
        self.wait_for(lambda: self.backend.pending() == 0, timeout, "the queue to drain")


@pytest.fixture
def harness(backend: Backend, tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(backend, tmp_path)
    try:
        yield harness
    finally:
        harness.shutdown()


@pytest.mark.timeout(60)
def test_message_is_processed_exactly_once(harness: Harness) -> None:
    _, actors = harness.backend.broker()
    harness.start_worker()

    actors["record"].send(str(harness.workdir), "only")

    harness.wait_for(lambda: harness.keys("done") == ["only"], 20, "the message to be processed")
    harness.wait_until_drained()
    assert harness.keys("done") == ["only"]
    assert harness.backend.counts()["dead"] == 0


@pytest.mark.timeout(60)
def test_single_thread_processes_in_enqueue_order(harness: Harness) -> None:
    _, actors = harness.backend.broker()
    keys = [f"m{index:02d}" for index in range(20)]
    for key in keys:
        actors["record"].send(str(harness.workdir), key)

    harness.start_worker(threads=1)

    harness.wait_for(lambda: len(harness.records("done")) >= 20, 30, "20 messages")
    harness.wait_until_drained()
    assert harness.keys("done") == keys


@pytest.mark.timeout(60)
def test_delayed_message_waits_without_blocking_the_queue(harness: Harness) -> None:
    _, actors = harness.backend.broker()
    harness.start_worker()

    enqueued_at = time.time()
    actors["record"].send_with_options(args=(str(harness.workdir), "later"), delay=1500)
    actors["record"].send(str(harness.workdir), "now")

    harness.wait_for(lambda: "later" in harness.keys("done"), 20, "the delayed message")
    harness.wait_until_drained()
    assert harness.keys("done") == ["now", "later"]
    (later,) = harness.records("done", "later")
    (now,) = harness.records("done", "now")
    assert later.at - enqueued_at >= 1.49
    assert now.at - enqueued_at < 1.4, "a delayed message must not hold back the messages behind it"


@pytest.mark.timeout(60)
def test_failing_actor_is_retried_until_it_succeeds(harness: Harness) -> None:
    _, actors = harness.backend.broker()
    harness.start_worker(min_backoff=50, max_backoff=200)

    actors["flaky"].send(str(harness.workdir), "flaky", 2)

    harness.wait_for(lambda: harness.keys("done") == ["flaky"], 20, "the third attempt to succeed")
    harness.wait_until_drained()
    assert len(harness.records("attempt", "flaky")) == 3
    assert harness.backend.counts() == {"ready": 0, "leased": 0, "dead": 0}


@pytest.mark.timeout(60)
def test_exhausted_retries_dead_letter_the_message(harness: Harness) -> None:
    _, actors = harness.backend.broker()
    harness.start_worker(min_backoff=50, max_backoff=200)

    actors["always_fails"].send(str(harness.workdir), "doomed")

    harness.wait_for(lambda: harness.backend.counts()["dead"] == 1, 20, "the message to be dead-lettered")
    harness.wait_until_drained()
    assert len(harness.records("attempt", "doomed")) == 1
    assert harness.backend.counts() == {"ready": 0, "leased": 0, "dead": 1}


@pytest.mark.timeout(60)
def test_message_of_a_killed_worker_is_redelivered_after_the_lease(harness: Harness) -> None:
    _, actors = harness.backend.broker()
    first = harness.start_worker(lease_seconds=2.0)
    actors["hang_first"].send(str(harness.workdir), "crash")
    harness.wait_for(lambda: harness.records("start", "crash"), 20, "the first delivery to start")

    assert harness.stop(first, signal.SIGKILL) == -signal.SIGKILL
    killed_at = time.time()
    harness.start_worker(lease_seconds=2.0)

    harness.wait_for(lambda: harness.records("done", "crash"), 20, "the redelivered message to complete")
    harness.wait_until_drained()
    first_start, second_start = harness.records("start", "crash")
    assert first_start.pid == first.pid
    assert second_start.pid != first.pid
    if harness.backend.name != "rabbitmq":
        # The heartbeat may have renewed the lease just before the kill (lease - heartbeat = 1.33 s).
        # RabbitMQ needs no lease: it requeues as soon as the killed worker's connection drops.
        assert second_start.at - killed_at >= 1.0, "redelivered before the lease expired"
    assert second_start.at - killed_at < 10.0, "redelivery took far longer than the lease"
    (done,) = harness.records("done", "crash")
    if harness.backend.name == "sqlite":
        assert done.deliveries == 2
    assert harness.backend.counts() == {"ready": 0, "leased": 0, "dead": 0}


@pytest.mark.timeout(60)
def test_sigterm_loses_nothing(harness: Harness) -> None:
    _, actors = harness.backend.broker()
    keys = [f"t{index}" for index in range(6)]
    # t0 outlives the stop timeout (still in flight at exit), t1 is prefetched, the rest queued.
    for key in keys:
        actors["slow"].send(str(harness.workdir), key, 2.5 if key == "t0" else 0.05)
    # A short lease only matters to Redis, which redelivers t0 once the dead worker's heartbeat expires.
    first = harness.start_worker(threads=1, stop_timeout_ms=300, lease_seconds=2.0)
    harness.wait_for(lambda: harness.records("start", "t0"), 20, "t0 to start")
    harness.wait_for(lambda: harness.backend.counts()["leased"] == 2, 10, "t0 in flight and t1 prefetched")

    assert harness.stop(first, signal.SIGTERM) == 0
    assert "t0" not in harness.keys("done"), "t0 was meant to be interrupted"
    if harness.backend.name == "sqlite":
        # Redis only gets back a message still in flight at exit after its heartbeat timeout.
        assert harness.backend.counts() == {"ready": len(keys), "leased": 0, "dead": 0}

    harness.start_worker(threads=1, lease_seconds=2.0)

    harness.wait_for(lambda: set(harness.keys("done")) == set(keys), 30, "every message to complete")
    harness.wait_until_drained()
    assert sorted(set(harness.keys("done"))) == keys
    assert harness.backend.counts()["dead"] == 0
    if harness.backend.name == "sqlite":
        # Only t0 reached an actor before the shutdown; requeued prefetches are not deliveries.
        deliveries = {record.key: record.deliveries for record in harness.records("done")}
        assert deliveries == {"t0": 2, **{key: 1 for key in keys[1:]}}


@pytest.mark.timeout(60)
def test_heartbeat_keeps_the_lease_of_a_long_actor(harness: Harness) -> None:
    _, actors = harness.backend.broker()
    # Two idle workers: either would take the message as soon as its lease expired.
    harness.start_worker(lease_seconds=1.0)
    harness.start_worker(lease_seconds=1.0)

    actors["slow"].send(str(harness.workdir), "long", 3.5)

    harness.wait_for(lambda: harness.records("done", "long"), 20, "the long actor to finish")
    harness.wait_until_drained()
    assert len(harness.records("start", "long")) == 1, "the message was delivered twice"
    assert len(harness.records("done", "long")) == 1


@pytest.mark.timeout(60)
def test_enqueue_in_joins_the_callers_transaction(backend: Backend) -> None:
    if backend.name != "sqlite":
        pytest.skip("enqueue_in is specific to the embedded broker")
    broker, actors = backend.broker()
    assert isinstance(broker, SQLiteBroker)
    assert backend.engine is not None
    message = actors["record"].message("/nowhere", "atomic")

    with pytest.raises(RuntimeError), write_transaction(backend.engine) as connection:
        broker.enqueue_in(connection, message)
        raise RuntimeError("roll back")
    assert backend.counts() == {"ready": 0, "leased": 0, "dead": 0}

    with write_transaction(backend.engine) as connection:
        broker.enqueue_in(connection, message)
    broker.ring()
    assert backend.counts() == {"ready": 1, "leased": 0, "dead": 0}
    assert broker.stats()[QUEUE] == {"ready": 1, "leased": 0, "dead": 0}


@pytest.mark.timeout(60)
def test_sqlite_join_flush_stats_and_prefetch(backend: Backend) -> None:
    if backend.name != "sqlite":
        pytest.skip("stats() and the prefetch cap are specific to the embedded broker")
    assert backend.engine is not None
    broker = SQLiteBroker(backend.engine, lease_seconds=5, prefetch=1, poll_interval=0.05)
    backend.brokers.append(broker)
    with pytest.raises(QueueNotFound):
        broker.consume(QUEUE)
    actors = helper.declare_actors(broker)
    assert broker.get_declared_queues() == {QUEUE}
    assert broker.get_declared_delay_queues() == set()
    for key in ("a", "b"):
        actors["record"].send("/nowhere", key)

    consumer = broker.consume(QUEUE, prefetch=10, timeout=100)
    first = next(consumer)
    assert first is not None and first.args[1] == "a"
    assert next(consumer) is None, "prefetch is capped at 1"
    assert broker.stats()[QUEUE] == {"ready": 1, "leased": 1, "dead": 0}
    with pytest.raises(QueueJoinTimeout):
        broker.join(QUEUE, timeout=100)

    consumer.requeue([first])
    again = next(consumer)
    assert again is not None and again.message_id == first.message_id
    consumer.ack(again)
    assert broker.stats()[QUEUE] == {"ready": 1, "leased": 0, "dead": 0}
    broker.flush_all()
    broker.join(QUEUE, timeout=1000)
    consumer.close()
