"""The transactional outbox on real servers: SQLite and Postgres for the table, Redis as the broker."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import dramatiq
import pytest
import redis
import sqlalchemy.exc
from dramatiq.broker import MessageProxy
from sqlalchemy import Engine

from eventstore.db import make_engine
from eventstore.sql import SqlEventStore
from tests.conftest import probe_kind, server_or_skip
from workers.dispatch import BrokerDispatcher, job_message
from workers.middleware import JobRetries
from workers.outbox import Outbox
from workers.remote_brokers import LeasedRedisBroker
from workflows.jobs import JobService

KIND = probe_kind("outbox_probe")
QUEUE = "outbox-test"


@dataclass
class Setup:
    engine: Engine
    broker: LeasedRedisBroker
    outbox: Outbox
    jobs: JobService
    client: redis.Redis

    def queued(self) -> int:
        """Messages waiting in the broker's queue."""
        return int(self.client.hlen(f"{self.broker.namespace}:{QUEUE}.msgs"))


def _setup(database_url: str, redis_url: str) -> Setup:
    engine = make_engine(database_url)
    broker = LeasedRedisBroker(redis_url, lease_seconds=5, namespace=f"outbox-{uuid.uuid4().hex[:8]}")
    dramatiq.actor(actor_name=KIND.actor, queue_name=QUEUE, broker=broker)(lambda stream_id: None)
    outbox = Outbox(engine, broker)
    jobs = JobService(SqlEventStore(engine), BrokerDispatcher(broker, outbox))
    return Setup(engine, broker, outbox, jobs, redis.Redis.from_url(redis_url))


@pytest.fixture
def setup(database_url: str) -> Iterator[Setup]:
    found = _setup(database_url, server_or_skip("redis").url)
    yield found
    found.broker.close()
    found.engine.dispose()


def test_the_message_is_written_with_the_job_and_sent_after_the_commit(setup: Setup) -> None:
    store = setup.jobs.store
    with pytest.raises(RuntimeError), store.transaction() as tx:
        setup.jobs.dispatcher.dispatch(tx, KIND.actor, "probe-rolled-back", str(uuid.uuid4()))
        assert setup.outbox.pending() == 0, "not visible outside the open transaction"
        raise RuntimeError("roll back")
    assert setup.outbox.pending() == 0 and setup.queued() == 0

    setup.jobs.submit(KIND, {})
    assert setup.queued() == 1
    assert setup.outbox.pending() == 0, "a sent message leaves the outbox"


def test_a_message_whose_send_failed_is_relayed_once_the_broker_is_back(database_url: str) -> None:
    outage = server_or_skip("redis", own=True)
    setup = _setup(database_url, outage.url)
    clock = [1_000.0]
    setup.outbox.clock = lambda: clock[0]
    try:
        outage.halt()
        stream_id = setup.jobs.submit(KIND, {})  # the commit stands; the send fails
        assert setup.outbox.pending() == 1
        clock[0] += 10
        assert setup.outbox.relay_once() == 0, "the broker is still down"
        assert setup.outbox.pending() == 1

        outage.resume()
        assert setup.outbox.relay_once() == 0, "backing off after the failed attempt"
        clock[0] += 60
        assert setup.outbox.relay_once() == 1
        assert setup.outbox.pending() == 0
        assert setup.queued() == 1
        [body] = setup.client.hvals(f"{setup.broker.namespace}:{QUEUE}.msgs")
        assert stream_id.encode() in body
    finally:
        setup.broker.close()
        setup.engine.dispose()
        outage.stop()


def test_concurrent_relays_send_each_message_once(setup: Setup) -> None:
    store = setup.jobs.store
    clock = [1_000.0]
    setup.outbox.clock = lambda: clock[0]
    with store.transaction() as tx:
        for index in range(40):
            setup.outbox.add_in(
                tx.connection, job_message(setup.broker, KIND.actor, f"probe-{index}", str(uuid.uuid4()))
            )
    clock[0] += 10  # past the first-send grace: every row is the relays' now
    relays = [Outbox(setup.engine, setup.broker, clock=lambda: clock[0]) for _ in range(4)]
    sent: list[int] = []
    barrier = threading.Barrier(len(relays))

    def relay(outbox: Outbox) -> None:
        barrier.wait()
        while count := outbox.relay_once():
            sent.append(count)

    threads = [threading.Thread(target=relay, args=(outbox,)) for outbox in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(sent) == 40
    assert setup.queued() == 40
    assert setup.outbox.pending() == 0


def test_an_outage_requeues_without_spending_a_retry_and_a_refused_requeue_waits_in_the_outbox(
    database_url: str,
) -> None:
    """JobRetries on a job that failed because the database went away: the message comes back
    with its retries untouched; while the broker is down too, the requeue goes to the outbox."""
    broken = server_or_skip("redis", own=True)
    setup = _setup(database_url, broken.url)
    retries = JobRetries(setup.jobs.store, max_retries=0)
    retries.fallback = setup.outbox
    outage = sqlalchemy.exc.OperationalError("INSERT …", {}, ConnectionRefusedError("the database is down"))
    try:
        message = MessageProxy(job_message(setup.broker, KIND.actor, "probe-outage", str(uuid.uuid4())))
        retries.after_process_message(setup.broker, message, exception=outage)
        assert message.options["outages"] == 1 and "retries" not in message.options
        assert not message.failed, "an outage is not the job's failure, even with no retries left"
        assert setup.client.hlen(f"{setup.broker.namespace}:{QUEUE}.DQ.msgs") == 1, "requeued with a delay"
        assert setup.outbox.pending() == 0

        broken.halt()
        retries.after_process_message(setup.broker, message, exception=outage)
        assert message.options["outages"] == 2
        assert setup.outbox.pending() == 1, "the broker refused the requeue: it waits in the outbox"
    finally:
        setup.broker.close()
        setup.engine.dispose()
        broken.stop()
