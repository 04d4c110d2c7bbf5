"""Queue depths as the Redis and RabbitMQ brokers report them (real throw-away servers; skipped
where their binaries are missing). The embedded broker's are in test_metrics.py."""

from __future__ import annotations

import time
import uuid

import dramatiq

from tests.conftest import server_or_skip
from workers.queue_metrics import queue_depths


def _message(queue: str) -> dramatiq.Message[object]:
    return dramatiq.Message(queue_name=queue, actor_name="x", args=(), kwargs={}, options={})


def test_redis_queue_depths_and_the_head_message_age() -> None:
    from dramatiq.brokers.redis import RedisBroker

    server = server_or_skip("redis")
    broker = RedisBroker(url=server.url, namespace=f"sauti-test-{uuid.uuid4().hex[:8]}")
    try:
        broker.declare_queue("default")
        broker.enqueue(_message("default"))
        broker.enqueue(_message("default"))
        broker.enqueue(_message("default"), delay=60_000)
        (depth,) = queue_depths(broker, time.time()) or []
        assert (depth.queue, depth.ready, depth.delayed, depth.in_flight, depth.dead) == (
            "default",
            2,
            1,
            0,
            0,
        )
        age = depth.oldest_age(time.time())
        assert age is not None and 0 <= age < 30
    finally:
        keys = list(broker.client.scan_iter(f"{broker.namespace}:*"))
        if keys:
            broker.client.delete(*keys)
        broker.close()


def test_rabbitmq_queue_depths_without_ages() -> None:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    server = server_or_skip("rabbitmq")
    broker = RabbitmqBroker(url=server.url)
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    try:
        broker.declare_queue(queue)
        broker.enqueue(_message(queue))

        def depth() -> tuple[int, int | None, int | None]:
            (found,) = [d for d in queue_depths(broker, time.time()) or [] if d.queue == queue]
            assert found.in_flight is None and found.oldest_enqueued_at is None
            return found.ready, found.delayed, found.dead

        deadline = time.monotonic() + 10
        while depth() != (1, 0, 0):
            assert time.monotonic() < deadline, depth()
            time.sleep(0.1)
    finally:
        broker.flush(queue)
        broker.close()
