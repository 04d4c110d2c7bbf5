"""Getting a job's message to the broker.

With the embedded SQLite broker the message row is inserted in the very transaction that
records the job, so there is never a job without its message nor a message without its job.
Other brokers (Redis, RabbitMQ) cannot join a SQL transaction: the message is sent right
after the commit.
"""

from __future__ import annotations

import dramatiq
from dramatiq import Message

from eventstore.base import StoreTransaction
from workers.sqlite_broker import SQLiteBroker


class BrokerDispatcher:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    def dispatch(self, tx: StoreTransaction, actor_name: str, stream_id: str, message_id: str) -> None:
        actor = self.broker.get_actor(actor_name)
        message: Message[None] = Message(
            queue_name=actor.queue_name,
            actor_name=actor_name,
            args=(),
            kwargs={"stream_id": stream_id},
            options={},
            message_id=message_id,
        )
        broker = self.broker
        if isinstance(broker, SQLiteBroker) and tx.connection is not None:
            broker.enqueue_in(tx.connection, message)
            tx.on_commit(broker.ring)
        else:

            def send() -> None:
                broker.enqueue(message)

            tx.on_commit(send)
