"""The embedded broker: a Dramatiq broker whose queue is the ``queue_messages`` table.

Delivery is at least once. A fetched row is *leased* (``lease_owner`` + ``locked_until``) and a
heartbeat thread keeps extending the leases of the live process; a row whose lease has expired
belongs to a process that died, and any consumer may take it again. ``ack`` deletes the row,
``nack`` marks it ``dead``; a graceful shutdown (``Worker.stop`` then ``close``) puts every
row this process still holds back to ``ready``.

Delayed messages stay in their own queue with a future ``available_at``: no ``.DQ`` queues are
declared, so Dramatiq never starts delay-queue consumers nor sets the ``eta`` option.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any
from uuid import uuid4

from dramatiq.broker import Broker, Consumer, MessageProxy
from dramatiq.common import q_name
from dramatiq.errors import ConnectionClosed, DecodeError, QueueJoinTimeout, QueueNotFound
from dramatiq.message import Message
from dramatiq.middleware import Middleware
from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import OperationalError

from eventstore.db import read_transaction, write_transaction
from eventstore.notifier import QUEUE_TOPIC, Doorbell, DoorbellListener
from workers.queue_metrics import QueueDepth
from workers.schema import queue_messages as qm

READY = "ready"
LEASED = "leased"
DEAD = "dead"
STATES = (READY, LEASED, DEAD)
_INSERT = insert(qm)  # built once: every job submission runs it


@contextlib.contextmanager
def _connection_errors() -> Iterator[None]:
    # Dramatiq retries acks and restarts consumers on BrokerConnectionError, and only on that.
    try:
        yield
    except OperationalError as error:
        raise ConnectionClosed(error) from error


def _encode(message: Message[Any]) -> str:
    return message.encode().decode("utf-8")


class SQLiteMessageProxy(MessageProxy):
    """A fetched message; ``row_id`` and ``deliveries`` identify this particular lease."""

    def __init__(self, message: Message[Any], *, row_id: int, deliveries: int) -> None:
        super().__init__(message)
        self.row_id = row_id
        self.deliveries = deliveries


class SQLiteBroker(Broker):
    def __init__(
        self,
        engine: Engine,
        *,
        doorbell: Doorbell | None = None,
        lease_seconds: float = 30.0,
        heartbeat_seconds: float | None = None,
        poll_interval: float = 0.5,
        prefetch: int | None = None,
        middleware: list[Middleware] | None = None,
    ) -> None:
        super().__init__(middleware=middleware)
        self.engine = engine
        self.doorbell = doorbell
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds if heartbeat_seconds is not None else lease_seconds / 3
        self.poll_interval = poll_interval
        self.prefetch = prefetch
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid4().hex[:8]}"
        self.queues = set()
        # Fetches hold _fetch_lock (which guards _closed) so that close() never races one.
        self._fetch_lock = threading.Lock()
        self._held_lock = threading.Lock()
        self._held: set[int] = set()
        self._closed = False
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None

    # -- declaring and enqueueing ------------------------------------------------------------

    def get_declared_queues(self) -> set[str]:
        return set(self.queues)

    def declare_queue(self, queue_name: str) -> None:
        if queue_name in self.queues:
            return
        self.emit_before("declare_queue", queue_name)
        self.queues.add(queue_name)
        self.emit_after("declare_queue", queue_name)

    def enqueue(self, message: Message[Any] | MessageProxy, *, delay: int | None = None) -> Message[Any]:
        prepared = self._prepare(message)
        self.emit_before("enqueue", prepared, delay)
        with write_transaction(self.engine) as connection:
            self._insert(connection, prepared, delay)
        self.emit_after("enqueue", prepared, delay)
        self.ring()
        return prepared

    def enqueue_in(
        self, connection: Connection, message: Message[Any] | MessageProxy, *, delay: int | None = None
    ) -> Message[Any]:
        """Enqueue inside the caller's transaction: nothing is committed and nobody is woken up.

        The caller calls ``ring()`` after its commit. ``after_enqueue`` is emitted before that
        commit, so it fires even if the caller's transaction later rolls back.
        """
        prepared = self._prepare(message)
        self.emit_before("enqueue", prepared, delay)
        self._insert(connection, prepared, delay)
        self.emit_after("enqueue", prepared, delay)
        return prepared

    def ring(self) -> None:
        if self.doorbell is not None:
            self.doorbell.ring(QUEUE_TOPIC)

    @staticmethod
    def _prepare(message: Message[Any] | MessageProxy) -> Message[Any]:
        # Retries re-enqueues the proxy itself, whose options it has just updated in place.
        if isinstance(message, MessageProxy):
            message = message._message
        queue_name = q_name(message.queue_name)
        if queue_name != message.queue_name or "eta" in message.options:
            options = {key: value for key, value in message.options.items() if key != "eta"}
            message = dataclasses.replace(message, queue_name=queue_name, options=options)
        return message

    def _insert(self, connection: Connection, message: Message[Any], delay: int | None) -> None:
        now = time.time()
        connection.execute(
            _INSERT,
            {
                "queue_name": message.queue_name,
                "message_id": message.message_id,
                "actor_name": message.actor_name,
                "body": _encode(message),
                "state": READY,
                "available_at": now + (delay or 0) / 1000,
                "locked_until": None,
                "lease_owner": None,
                "deliveries": 0,
                "enqueued_at": now,
            },
        )

    # -- consuming -----------------------------------------------------------------------------

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 30000) -> Consumer:
        if queue_name not in self.queues:
            raise QueueNotFound(queue_name)
        if self.prefetch is not None:
            prefetch = min(prefetch, self.prefetch)
        self._ensure_heartbeat()
        return _SQLiteConsumer(self, queue_name, max(1, prefetch), timeout)

    def _seconds_until_available(self, queue_name: str) -> float | None:
        """A cheap read: how long until a row of the queue can be fetched (<= 0: now)."""
        next_ready = (
            select(func.min(qm.c.available_at))
            .where(qm.c.queue_name == queue_name, qm.c.state == READY)
            .scalar_subquery()
        )
        next_expiry = (
            select(func.min(qm.c.locked_until))
            .where(qm.c.queue_name == queue_name, qm.c.state == LEASED, qm.c.lease_owner != self.owner)
            .scalar_subquery()
        )
        with _connection_errors(), read_transaction(self.engine) as connection:
            row = connection.execute(select(next_ready, next_expiry)).one()
        times = [value for value in row if value is not None]
        return min(times) - time.time() if times else None

    def _fetch(self, queue_name: str) -> SQLiteMessageProxy | None:
        with self._fetch_lock, _connection_errors():
            if self._closed:
                return None
            now = time.time()
            with write_transaction(self.engine) as connection:
                row = connection.execute(
                    select(qm.c.id, qm.c.body, qm.c.deliveries, qm.c.state, qm.c.lease_owner)
                    .where(
                        qm.c.queue_name == queue_name,
                        or_(
                            and_(qm.c.state == READY, qm.c.available_at <= now),
                            # Never our own: we would run a message we are still running.
                            and_(
                                qm.c.state == LEASED, qm.c.locked_until < now, qm.c.lease_owner != self.owner
                            ),
                        ),
                    )
                    .order_by(qm.c.id)
                    .limit(1)
                ).first()
                if row is None:
                    return None
                try:
                    message = Message.decode(row.body.encode("utf-8"))
                except DecodeError:
                    self.logger.error("Message row %d cannot be decoded; marking it dead.", row.id)
                    connection.execute(update(qm).where(qm.c.id == row.id).values(state=DEAD))
                    return None
                deliveries = row.deliveries + 1
                connection.execute(
                    update(qm)
                    .where(qm.c.id == row.id)
                    .values(
                        state=LEASED,
                        lease_owner=self.owner,
                        locked_until=now + self.lease_seconds,
                        deliveries=deliveries,
                    )
                )
            with self._held_lock:
                self._held.add(row.id)
        if row.state == LEASED:
            self.logger.warning(
                "Redelivering message %s: the lease of %s expired.", message.message_id, row.lease_owner
            )
        return SQLiteMessageProxy(message, row_id=row.id, deliveries=deliveries)

    def _is_ours(self, proxy: SQLiteMessageProxy) -> Any:
        return and_(
            qm.c.id == proxy.row_id,
            qm.c.state == LEASED,
            qm.c.lease_owner == self.owner,
            qm.c.deliveries == proxy.deliveries,
        )

    def _ack(self, proxy: SQLiteMessageProxy) -> None:
        with _connection_errors(), write_transaction(self.engine) as connection:
            result = connection.execute(delete(qm).where(self._is_ours(proxy)))
        self._release([proxy.row_id])
        if result.rowcount == 0:
            self.logger.warning("Acked message %s after losing its lease.", proxy.message_id)

    def _nack(self, proxy: SQLiteMessageProxy) -> None:
        # Keep the options the middleware updated (retries, traceback) for whoever inspects it.
        with _connection_errors(), write_transaction(self.engine) as connection:
            connection.execute(
                update(qm)
                .where(self._is_ours(proxy))
                .values(state=DEAD, lease_owner=None, locked_until=None, body=_encode(proxy._message))
            )
        self._release([proxy.row_id])

    def _requeue(self, proxies: list[SQLiteMessageProxy]) -> None:
        if not proxies:
            return
        # These never reached an actor, so they do not count as deliveries.
        with _connection_errors(), write_transaction(self.engine) as connection:
            for proxy in proxies:
                connection.execute(
                    update(qm)
                    .where(self._is_ours(proxy))
                    .values(state=READY, lease_owner=None, locked_until=None, deliveries=qm.c.deliveries - 1)
                )
        self._release([proxy.row_id for proxy in proxies])
        self.ring()

    def _release(self, row_ids: Iterable[int]) -> None:
        with self._held_lock:
            self._held.difference_update(row_ids)

    # -- leases ----------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def _ensure_heartbeat(self) -> None:
        with self._fetch_lock:
            if self._heartbeat_thread is not None or self._closed:
                return
            self._heartbeat_thread = threading.Thread(
                target=self._heartbeat_loop, name="sauti-broker-heartbeat", daemon=True
            )
            self._heartbeat_thread.start()

    def _heartbeat_loop(self) -> None:
        while not self._heartbeat_stop.wait(self.heartbeat_seconds):
            with self._held_lock:
                if not self._held:
                    continue
            try:
                self.extend_leases()
            except Exception:
                self.logger.warning("Could not extend the leases of %s.", self.owner, exc_info=True)

    def extend_leases(self) -> int:
        """Push back ``locked_until`` of every row this broker holds; returns how many."""
        with write_transaction(self.engine) as connection:
            result = connection.execute(
                update(qm)
                .where(qm.c.lease_owner == self.owner, qm.c.state == LEASED)
                .values(locked_until=time.time() + self.lease_seconds)
            )
        return result.rowcount

    def close(self) -> None:
        """Stop fetching and heartbeating, then hand every row still held back to the queue."""
        with self._fetch_lock:
            self._closed = True
            thread, self._heartbeat_thread = self._heartbeat_thread, None
        self._heartbeat_stop.set()
        if thread is not None:
            thread.join(timeout=max(1.0, self.heartbeat_seconds))
        with write_transaction(self.engine) as connection:
            result = connection.execute(
                update(qm)
                .where(qm.c.lease_owner == self.owner, qm.c.state == LEASED)
                .values(state=READY, lease_owner=None, locked_until=None)
            )
        with self._held_lock:
            self._held.clear()
        if result.rowcount:
            self.logger.info("Released %d leased message(s) on close.", result.rowcount)
            self.ring()

    # -- maintenance and tests -------------------------------------------------------------------

    def flush(self, queue_name: str) -> None:
        with write_transaction(self.engine) as connection:
            connection.execute(delete(qm).where(qm.c.queue_name == queue_name))

    def flush_all(self) -> None:
        for queue_name in self.get_declared_queues():
            self.flush(queue_name)

    def join(self, queue_name: str, *, timeout: int | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout / 1000
        query = select(func.count()).where(qm.c.queue_name == queue_name, qm.c.state.in_((READY, LEASED)))
        while True:
            with read_transaction(self.engine) as connection:
                if connection.execute(query).scalar_one() == 0:
                    return
            if deadline is not None and time.monotonic() >= deadline:
                raise QueueJoinTimeout(queue_name)
            time.sleep(0.05)

    def stats(self) -> dict[str, dict[str, int]]:
        """Message counts per queue and state, declared queues included even when empty."""
        counts = {name: dict.fromkeys(STATES, 0) for name in self.get_declared_queues()}
        with read_transaction(self.engine) as connection:
            rows = connection.execute(
                select(qm.c.queue_name, qm.c.state, func.count()).group_by(qm.c.queue_name, qm.c.state)
            ).all()
        for queue_name, state, count in rows:
            counts.setdefault(queue_name, dict.fromkeys(STATES, 0))[state] = count
        return counts

    def depths(self, now: float) -> list[QueueDepth]:
        """Per queue: messages due now, delayed (a retry's backoff), leased and dead, and the
        enqueue time of the oldest message due; declared queues included even when empty."""
        counts: dict[str, dict[str, int]] = {name: {} for name in self.get_declared_queues()}
        oldest: dict[str, float] = {}
        due = qm.c.available_at <= now
        query = select(
            qm.c.queue_name, qm.c.state, due.label("due"), func.count(), func.min(qm.c.enqueued_at)
        ).group_by(qm.c.queue_name, qm.c.state, due)
        with read_transaction(self.engine) as connection:
            rows = connection.execute(query).all()
        for queue_name, state, is_due, count, first in rows:
            key = state if state != READY else ("ready" if is_due else "delayed")
            counts.setdefault(queue_name, {})[key] = count
            if key == "ready":
                oldest[queue_name] = first
        return [
            QueueDepth(
                queue=name,
                ready=held.get("ready", 0),
                delayed=held.get("delayed", 0),
                in_flight=held.get(LEASED, 0),
                dead=held.get(DEAD, 0),
                oldest_enqueued_at=oldest.get(name),
            )
            for name, held in sorted(counts.items())
        ]


class _SQLiteConsumer(Consumer):
    """Not thread-safe for ``__next__``; ack, nack and requeue come from other threads."""

    def __init__(self, broker: SQLiteBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.prefetch = prefetch
        self.timeout = timeout
        self._condition = threading.Condition()
        self._outstanding: set[int] = set()
        self._listener: DoorbellListener | None = None
        if broker.doorbell is not None:
            try:
                self._listener = broker.doorbell.listen(QUEUE_TOPIC)
            except OSError:
                broker.logger.warning("No doorbell for queue %r; polling only.", queue_name, exc_info=True)

    def __next__(self) -> SQLiteMessageProxy | None:
        deadline = time.monotonic() + self.timeout / 1000
        while True:
            if not self._wait_for_slot(deadline):
                return None
            until_available = self.broker._seconds_until_available(self.queue_name)
            if until_available is not None and until_available <= 0:
                proxy = self.broker._fetch(self.queue_name)
                if proxy is not None:
                    with self._condition:
                        self._outstanding.add(proxy.row_id)
                    return proxy
                if not self.broker.closed:
                    continue  # Another consumer was faster: look again before sleeping.
                until_available = None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            pause = min(self.broker.poll_interval, remaining)
            if until_available is not None:
                pause = min(pause, until_available)
            listener = self._listener
            if listener is not None:
                listener.wait(pause)
            else:
                time.sleep(pause)

    def _wait_for_slot(self, deadline: float) -> bool:
        with self._condition:
            while len(self._outstanding) >= self.prefetch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
            return True

    def _forget(self, row_ids: Iterable[int]) -> None:
        with self._condition:
            self._outstanding.difference_update(row_ids)
            self._condition.notify_all()

    def ack(self, message: MessageProxy) -> None:
        proxy = _as_ours(message)
        try:
            self.broker._ack(proxy)
        finally:
            self._forget([proxy.row_id])

    def nack(self, message: MessageProxy) -> None:
        proxy = _as_ours(message)
        try:
            self.broker._nack(proxy)
        finally:
            self._forget([proxy.row_id])

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        proxies = [_as_ours(message) for message in messages]
        try:
            self.broker._requeue(proxies)
        finally:
            self._forget(proxy.row_id for proxy in proxies)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


def _as_ours(message: MessageProxy) -> SQLiteMessageProxy:
    if not isinstance(message, SQLiteMessageProxy):
        raise TypeError(f"{message!r} was not fetched by a SQLiteBroker")
    return message
