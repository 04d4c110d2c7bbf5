"""Redis and RabbitMQ, configured so a dead worker's messages come back within its lease.

Dramatiq's RedisBroker considers a worker dead when its broker id has not beaten for
``heartbeat_timeout``, and moves its unacknowledged messages back during "maintenance", which by
default runs on one command in a thousand: a killed worker's jobs came back after minutes.
Here the timeout is the lease, maintenance runs on every fetch (a few cheap set operations), and
a thread beats every third of the lease, so a worker whose threads are all busy (no fetches) is
never taken for dead; the same thread runs maintenance on the worker's queues, so a dead worker's
messages come back even while every live consumer is busy. They come back at the head of their
queue (Dramatiq appends them to the tail, behind the whole backlog), as the embedded broker does.

RabbitMQ requeues a consumer's unacknowledged messages as soon as its connection drops (a killed
process closes it at once); a host that hangs is caught by the AMQP heartbeat, set to the lease
unless the URL sets one, and publishes are confirmed.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.brokers.redis import _scripts as dramatiq_scripts
from dramatiq.common import dq_name
from dramatiq.middleware import Middleware


def _redelivered_at_the_head(dispatch: bytes) -> bytes:
    """Dramatiq's dispatch script with dead workers' and requeued messages pushed to the head."""
    # The enqueue (indented 4) appends to the tail; the two requeues are nested deeper.
    patched, count = re.subn(
        rb'(\n {8,})redis\.call\("rpush", queue_full_name, message_id\)',
        rb'\1redis.call("lpush", queue_full_name, message_id)',
        dispatch,
    )
    if count != 2:
        raise RuntimeError("Dramatiq's Redis dispatch script changed: review workers/remote_brokers.py")
    return patched


DISPATCH = _redelivered_at_the_head(dramatiq_scripts["dispatch"])


class LeasedRedisBroker(RedisBroker):
    def __init__(self, url: str, *, lease_seconds: float, namespace: str = "dramatiq", **kwargs: Any) -> None:
        super().__init__(
            url=url,
            namespace=namespace,
            heartbeat_timeout=int(lease_seconds * 1000),
            maintenance_chance=MAINTENANCE_SCALE,
            **kwargs,
        )
        self.scripts["dispatch"] = self.client.register_script(DISPATCH)
        self._beat_every = lease_seconds / 3
        self._stopping = threading.Event()
        self._beating: threading.Thread | None = None

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        if self._beating is None:
            self._beating = threading.Thread(target=self._beat, name="redis-heartbeat", daemon=True)
            self._beating.start()
        return super().consume(queue_name, prefetch, timeout)

    def beat(self) -> None:
        """Tell the other workers this broker id is alive (what every fetch does too)."""
        self.client.zadd(f"{self.namespace}:__heartbeats__", {self.broker_id: int(time.time() * 1000)})

    def _beat(self) -> None:
        while not self._stopping.wait(self._beat_every):
            try:
                self.beat()
                for queue in self.get_declared_queues():
                    # Any command but ack/nack runs maintenance (maintenance_chance is certain).
                    self.do_qsize(queue)
                    self.do_qsize(dq_name(queue))
            except Exception:
                self.logger.warning("redis heartbeat failed; retrying", exc_info=True)

    def close(self) -> None:
        self._stopping.set()
        super().close()


def with_heartbeat(url: str, seconds: float) -> str:
    """``url`` with an AMQP ``heartbeat`` query parameter, unless it already has one."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("heartbeat", str(max(1, round(seconds))))
    return urlunsplit(parts._replace(query=urlencode(query)))


def rabbitmq_broker(url: str, *, lease_seconds: float, middleware: list[Middleware]) -> RabbitmqBroker:
    return RabbitmqBroker(
        url=with_heartbeat(url, lease_seconds), confirm_delivery=True, middleware=middleware
    )


def ping(broker: object) -> None:
    """Raise unless the broker answers (readiness); a no-op for the embedded broker."""
    if isinstance(broker, RedisBroker):
        broker.client.ping()
    elif isinstance(broker, RabbitmqBroker):
        try:
            broker.connection.process_data_events(time_limit=0)
        except Exception:
            # A dropped connection: the next use reconnects, so try that once.
            del broker.connection
            broker.connection.process_data_events(time_limit=0)
