"""How deep each broker queue is, asked of the broker as cheaply as it can answer.

- the embedded SQLite broker: one grouped query on its table (``SQLiteBroker.depths``), every
  figure exact;
- Redis: a few O(1) commands per queue in one MULTI (list and hash lengths, and the head
  message's enqueue time);
- RabbitMQ: the message counts a passive-style declare returns (ready, delayed, dead); in-flight
  counts and message ages are not available without consuming, so they are left out (``None``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import dramatiq

log = logging.getLogger(__name__)

_INTERNAL_SUFFIXES = (".DQ", ".XQ")


@dataclass(frozen=True)
class QueueDepth:
    """What one queue holds. ``None`` for a figure the broker cannot tell cheaply."""

    queue: str
    ready: int
    """Messages waiting to be fetched now."""
    delayed: int | None = None
    """Messages waiting for a later time (a retry's backoff)."""
    in_flight: int | None = None
    """Messages a worker holds and has not acknowledged."""
    dead: int | None = None
    oldest_enqueued_at: float | None = None
    """When the oldest waiting message was enqueued (epoch seconds); None when none waits."""

    def oldest_age(self, now: float) -> float | None:
        if self.oldest_enqueued_at is None:
            return 0.0 if self.ready == 0 else None
        return max(0.0, now - self.oldest_enqueued_at)


@runtime_checkable
class ReportsDepths(Protocol):
    def depths(self, now: float) -> list[QueueDepth]: ...


def queue_depths(broker: dramatiq.Broker, now: float) -> list[QueueDepth] | None:
    """Every declared queue's depth; None for a broker this module cannot ask."""
    if isinstance(broker, ReportsDepths):
        return broker.depths(now)
    kind = type(broker).__name__
    if kind == "RedisBroker":
        return _redis_depths(broker, _queues(broker.get_declared_queues()))
    if kind == "RabbitmqBroker":
        return _rabbitmq_depths(broker, _queues(broker.get_declared_queues()))
    return None


def _queues(declared: Iterable[str]) -> list[str]:
    return sorted(name for name in declared if not name.endswith(_INTERNAL_SUFFIXES))


def _redis_depths(broker: Any, queues: list[str]) -> list[QueueDepth]:
    """Key layout of dramatiq's Redis broker (its dispatch.lua): ``ns:queue`` lists the waiting
    message ids, ``ns:queue.msgs`` maps every unacknowledged id to its message, ``ns:queue.DQ``
    the delayed ones, ``ns:queue.XQ.msgs`` the dead ones."""
    ns = broker.namespace
    pipe = broker.client.pipeline(transaction=True)
    for queue in queues:
        pipe.llen(f"{ns}:{queue}")
        pipe.hlen(f"{ns}:{queue}.msgs")
        pipe.hlen(f"{ns}:{queue}.DQ.msgs")
        pipe.hlen(f"{ns}:{queue}.XQ.msgs")
        pipe.lindex(f"{ns}:{queue}", 0)
    replies = pipe.execute()
    found = []
    for index, queue in enumerate(queues):
        ready, held, delayed, dead, head = replies[index * 5 : index * 5 + 5]
        found.append(
            QueueDepth(
                queue=queue,
                ready=int(ready),
                delayed=int(delayed),
                in_flight=max(0, int(held) - int(ready)),
                dead=int(dead),
                oldest_enqueued_at=_redis_enqueued_at(broker, queue, head),
            )
        )
    return found


def _redis_enqueued_at(broker: Any, queue: str, head: bytes | None) -> float | None:
    """The head message's ``message_timestamp`` (ms): the next one to go, the oldest but for a
    requeued message, which goes to the back."""
    if head is None:
        return None
    raw = broker.client.hget(f"{broker.namespace}:{queue}.msgs", head)
    if raw is None:
        return None
    try:
        return float(json.loads(raw)["message_timestamp"]) / 1000
    except (ValueError, KeyError, TypeError):
        return None


def _rabbitmq_depths(broker: Any, queues: list[str]) -> list[QueueDepth]:
    found = []
    for queue in queues:
        ready, delayed, dead = broker.get_queue_message_counts(queue)
        found.append(QueueDepth(queue=queue, ready=ready, delayed=delayed, dead=dead))
    return found
