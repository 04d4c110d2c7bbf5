"""Build the Dramatiq broker: the embedded SQLite broker by default, Redis or RabbitMQ by URL."""

from __future__ import annotations

from dataclasses import dataclass

import dramatiq
from dramatiq.middleware import CurrentMessage, Middleware
from sqlalchemy import Engine

from eventstore.base import EventStore
from eventstore.notifier import Doorbell
from workers.middleware import JobRetries
from workers.sqlite_broker import SQLiteBroker


@dataclass(frozen=True)
class BrokerOptions:
    url: str | None = None
    lease_seconds: float = 30.0
    poll_interval: float = 0.5
    prefetch: int | None = None
    max_retries: int = 3
    min_backoff_ms: int = 1000
    max_backoff_ms: int = 60_000


def broker_kind(url: str | None) -> str:
    if not url:
        return "sqlite"
    scheme = url.split(":", 1)[0]
    if scheme in ("redis", "rediss"):
        return "redis"
    if scheme in ("amqp", "amqps"):
        return "rabbitmq"
    raise ValueError(f"unsupported broker URL scheme {scheme!r}: use redis://, amqp:// or leave it unset")


def make_broker(
    options: BrokerOptions, *, engine: Engine, store: EventStore, doorbell: Doorbell | None
) -> dramatiq.Broker:
    middleware: list[Middleware] = [
        CurrentMessage(),
        JobRetries(
            store,
            max_retries=options.max_retries,
            min_backoff=options.min_backoff_ms,
            max_backoff=options.max_backoff_ms,
        ),
    ]
    kind = broker_kind(options.url)
    if kind in ("redis", "rabbitmq"):
        from workers.remote_brokers import LeasedRedisBroker, rabbitmq_broker

        assert options.url is not None
        if kind == "redis":
            return LeasedRedisBroker(options.url, lease_seconds=options.lease_seconds, middleware=middleware)
        return rabbitmq_broker(options.url, lease_seconds=options.lease_seconds, middleware=middleware)
    return SQLiteBroker(
        engine,
        doorbell=doorbell,
        lease_seconds=options.lease_seconds,
        poll_interval=options.poll_interval,
        prefetch=options.prefetch,
        middleware=middleware,
    )
