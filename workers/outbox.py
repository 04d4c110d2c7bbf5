"""The transactional outbox: no job without its message on a broker outside the database.

Redis and RabbitMQ cannot join the SQL transaction that records a job. So the message is
written to ``outbox_messages`` in that transaction, and sent after the commit: at once by the
process that committed (``send_after_commit``), and by the relay, which every web and worker
process runs, for any row whose first send never happened (the process died between commit and
send, or the broker was down). A row is deleted only after the broker accepted the message, so
delivery is at least once; job actors are idempotent, so a message sent twice runs its job once.

Relays in several processes (and hosts) share the table: a relay claims due rows by moving
their ``next_attempt_at`` forward in one conditional update, so one row is sent by one relay at a
time, and a relay that dies holding a claim only delays the row until the claim runs out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import dramatiq
from dramatiq import Message
from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from eventstore.db import write_transaction
from workers.schema import outbox_messages

log = logging.getLogger(__name__)

FIRST_SEND_GRACE_S = 5.0
"""How long the committing process has to send before the relay takes over."""
CLAIM_S = 30.0
"""How long a relay's claim on a row lasts (a send that hangs longer is retried elsewhere)."""
MAX_BACKOFF_S = 30.0
RELAY_BATCH = 100


class Outbox:
    def __init__(
        self, engine: Engine, broker: dramatiq.Broker, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.broker = broker
        self.clock = clock

    def add_in(
        self, connection: Connection, message: Message[object], delay_s: float = FIRST_SEND_GRACE_S
    ) -> int:
        """Write ``message`` in the caller's transaction, for the relay to send after ``delay_s``
        (by default, the time the committing process has to send it itself); returns the row id."""
        now = self.clock()
        result = connection.execute(
            insert(outbox_messages).values(
                message_id=message.message_id,
                queue_name=message.queue_name,
                body=message.encode().decode("utf-8"),
                created_at=now,
                next_attempt_at=now + delay_s,
                attempts=0,
            )
        )
        primary_key = result.inserted_primary_key
        assert primary_key is not None
        return int(primary_key[0])

    def add_later(self, message: Message[object], delay_ms: int) -> None:
        """Write ``message`` for the relay to send in ``delay_ms`` (a requeue the broker refused)."""
        with write_transaction(self.engine) as connection:
            self.add_in(connection, message, delay_ms / 1000)

    def send_after_commit(self, row_id: int, message: Message[object]) -> None:
        """The first send, by the committing process; on failure the relay sends it later."""
        try:
            self.broker.enqueue(message)
        except Exception:
            log.warning(
                "sending message %s failed; the outbox relay will retry", message.message_id, exc_info=True
            )
            return
        self._delete([row_id])

    def relay_once(self) -> int:
        """Send every due row once; returns how many the broker accepted."""
        claimed = self._claim()
        sent: list[int] = []
        try:
            for index, (row_id, body, attempts) in enumerate(claimed):
                try:
                    self.broker.enqueue(Message.decode(body.encode("utf-8")))
                except Exception:
                    log.warning("outbox relay: the broker refused a message; retrying later", exc_info=True)
                    self._back_off([row for row, _, _ in claimed[index:]], attempts)
                    break
                sent.append(row_id)
        finally:
            if sent:
                self._delete(sent)
        return len(sent)

    def pending(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(outbox_messages)).scalar() or 0)

    def _claim(self) -> list[tuple[int, str, int]]:
        now = self.clock()
        table = outbox_messages
        with write_transaction(self.engine) as connection:
            due = [
                row.id
                for row in connection.execute(
                    select(table.c.id)
                    .where(table.c.next_attempt_at <= now)
                    .order_by(table.c.id)
                    .limit(RELAY_BATCH)
                )
            ]
            if not due:
                return []
            # The condition is checked again under the row lock: of two relays, one gets each row.
            claimed = connection.execute(
                update(table)
                .where(and_(table.c.id.in_(due), table.c.next_attempt_at <= now))
                .values(next_attempt_at=now + CLAIM_S, attempts=table.c.attempts + 1)
                .returning(table.c.id, table.c.body, table.c.attempts)
            ).all()
        return sorted((row.id, row.body, row.attempts) for row in claimed)

    def _back_off(self, row_ids: list[int], attempts: int) -> None:
        """The broker is down: try these rows again after a delay that grows with the attempts."""
        delay = min(MAX_BACKOFF_S, 0.5 * 2 ** min(attempts, 8))
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(outbox_messages)
                .where(outbox_messages.c.id.in_(row_ids))
                .values(next_attempt_at=self.clock() + delay)
            )

    def _delete(self, row_ids: list[int]) -> None:
        try:
            with write_transaction(self.engine) as connection:
                connection.execute(delete(outbox_messages).where(outbox_messages.c.id.in_(row_ids)))
        except Exception:
            # The messages went out; the relay sends them again once their claim runs out.
            log.warning(
                "could not delete %d sent outbox rows; they will be sent again", len(row_ids), exc_info=True
            )


class OutboxRelay:
    """A daemon thread that runs ``relay_once`` every ``interval`` seconds until stopped."""

    def __init__(self, outbox: Outbox, interval: float = 1.0) -> None:
        self.outbox = outbox
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> OutboxRelay:
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                while self.outbox.relay_once() >= RELAY_BATCH:
                    pass
            except Exception:
                log.warning("outbox relay failed (is the database reachable?); retrying", exc_info=True)
