"""Getting a job's message to the broker, never one without the other.

With the embedded SQLite broker the message row is inserted in the very transaction that
records the job. Other brokers (Redis, RabbitMQ) cannot join a SQL transaction: the message
goes into the outbox in that transaction and is sent after the commit (workers/outbox.py).
"""

from __future__ import annotations

import dramatiq
from dramatiq import Message

from eventstore.base import StoreTransaction
from workers.outbox import Outbox
from workers.sqlite_broker import SQLiteBroker


def job_message(broker: dramatiq.Broker, actor_name: str, stream_id: str, message_id: str) -> Message[None]:
    """The message that runs a job: its actor, on the actor's queue, given the job's stream."""
    return Message(
        queue_name=broker.get_actor(actor_name).queue_name,
        actor_name=actor_name,
        args=(),
        kwargs={"stream_id": stream_id},
        options={},
        message_id=message_id,
    )


class BrokerDispatcher:
    def __init__(self, broker: dramatiq.Broker, outbox: Outbox | None = None) -> None:
        self.broker = broker
        self.outbox = outbox

    def dispatch(self, tx: StoreTransaction, actor_name: str, stream_id: str, message_id: str) -> None:
        message = job_message(self.broker, actor_name, stream_id, message_id)
        broker = self.broker
        if isinstance(broker, SQLiteBroker) and tx.connection is not None:
            broker.enqueue_in(tx.connection, message)
            tx.on_commit(broker.ring)
            return
        outbox = self.outbox
        if outbox is not None and tx.connection is not None:
            row_id = outbox.add_in(tx.connection, message)
            tx.on_commit(lambda: outbox.send_after_commit(row_id, message))
            return

        def send() -> None:  # a store without SQL transactions (the in-memory one, in unit tests)
            broker.enqueue(message)

        tx.on_commit(send)
