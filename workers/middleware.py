"""Dramatiq middleware that ties message outcomes to job streams.

``JobRetries`` replaces Dramatiq's ``Retries``: it retries failed messages with exponential
backoff and records each outcome in the job's event stream (``<category>.retrying`` or
``<category>.failed``). A job interrupted by a worker shutdown is requeued at once and
does not count as a failed attempt. Nor does one that failed because the database or the
broker was unreachable (an outage, not the job's fault): it is requeued with a growing delay,
for as long as the outage lasts. A requeue the broker refuses goes to the outbox, which sends it
once the broker is back.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Protocol

import dramatiq
import pika.exceptions
import redis.exceptions
import sqlalchemy.exc
from dramatiq.common import compute_backoff
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import Middleware

from eventstore.base import EventStore
from workflows.jobs import JobDeferred, JobInputError, WorkerShuttingDown, record_failure, record_retry

log = logging.getLogger(__name__)

OUTAGE_MIN_DELAY_MS = 500
DEFER_DELAY_MS = 500
"""A deferred job's message waits this long in the queue, so the work it gave way to starts first."""
OUTAGE_MAX_DELAY_MS = 30_000
_OUTAGES = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    pika.exceptions.AMQPConnectionError,
    BrokerConnectionError,
)


# SQLite reports some mistakes as "operational" errors too; they are the code's, not an outage.
_NOT_OUTAGES = ("no such table", "no such column", "syntax error")


def is_outage(exception: BaseException) -> bool:
    """True when ``exception`` says a dependency (database, broker) was unreachable."""
    if isinstance(exception, sqlalchemy.exc.DBAPIError) and exception.connection_invalidated:
        return True
    if isinstance(exception, sqlalchemy.exc.OperationalError) and any(
        words in str(exception.orig) for words in _NOT_OUTAGES
    ):
        return False
    return isinstance(exception, _OUTAGES)


class Requeue(Protocol):
    """Where a requeue goes when the broker refuses it (the outbox)."""

    def add_later(self, message: Any, delay_ms: int) -> None: ...


class JobRetries(Middleware):
    def __init__(
        self, store: EventStore, *, max_retries: int = 3, min_backoff: int = 1000, max_backoff: int = 60_000
    ) -> None:
        self.store = store
        self.max_retries = max_retries
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.fallback: Requeue | None = None
        """Set by the bootstrap for brokers outside the database."""

    @property
    def actor_options(self) -> set[str]:
        return {"max_retries", "min_backoff", "max_backoff", "throws"}

    def _option(self, actor: dramatiq.Actor[Any, Any], message: Any, name: str, default: Any) -> Any:
        return message.options.get(name, actor.options.get(name, default))

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None:
            return
        if isinstance(exception, WorkerShuttingDown):
            log.info("requeueing %s: the worker is shutting down", message.message_id)
            self._requeue(broker, message, 0)
            return
        if isinstance(exception, JobDeferred):
            log.info("requeueing %s: %s", message.message_id, exception)
            self._requeue(broker, message, DEFER_DELAY_MS)
            return
        if is_outage(exception):
            self._wait_out(broker, message, exception)
            return

        actor = broker.get_actor(message.actor_name)
        stream_id = message.kwargs.get("stream_id") if isinstance(message.kwargs, dict) else None
        error = f"{type(exception).__name__}: {exception}"
        retries = message.options.get("retries", 0)
        throws = self._option(actor, message, "throws", None)
        permanent = isinstance(exception, JobInputError) or (throws and isinstance(exception, throws))
        if permanent or retries >= self._option(actor, message, "max_retries", self.max_retries):
            if stream_id:
                try:
                    record_failure(self.store, stream_id, message.message_id, error, _error_type(exception))
                except Exception as recording:
                    if not is_outage(recording):
                        raise
                    # The failure is the job's, but it cannot be recorded yet: run it again later.
                    self._wait_out(broker, message, recording)
                    return
            log.warning("message %s failed for good: %s", message.message_id, error)
            message.fail()
            return

        message.options["retries"] = retries + 1
        message.options["traceback"] = traceback.format_exc(limit=30)
        _, delay = compute_backoff(
            retries,
            factor=self._option(actor, message, "min_backoff", self.min_backoff),
            max_backoff=self._option(actor, message, "max_backoff", self.max_backoff),
        )
        if stream_id:
            try:
                record_retry(self.store, stream_id, message.message_id, error, delay)
            except Exception as recording:
                if not is_outage(recording):
                    raise
                log.warning("could not record the retry of %s (%s); retrying anyway", stream_id, recording)
        log.info("retrying message %s in %d ms after %s", message.message_id, delay, error)
        self._requeue(broker, message, delay)

    def _wait_out(self, broker: dramatiq.Broker, message: Any, exception: BaseException) -> None:
        """Requeue without spending a retry: nothing is wrong with the job itself."""
        outages = message.options.get("outages", 0)
        message.options["outages"] = outages + 1
        delay = min(OUTAGE_MAX_DELAY_MS, OUTAGE_MIN_DELAY_MS * 2 ** min(outages, 10))
        log.warning(
            "message %s hit an outage (%s: %s); trying again in %d ms",
            message.message_id,
            type(exception).__name__,
            exception,
            delay,
        )
        self._requeue(broker, message, delay)

    def _requeue(self, broker: dramatiq.Broker, message: Any, delay: int) -> None:
        try:
            broker.enqueue(message, delay=delay or None)
        except Exception as refused:
            if self.fallback is None or not is_outage(refused):
                raise
            log.warning("the broker refused requeueing %s; it waits in the outbox", message.message_id)
            self.fallback.add_later(message, delay)


def _error_type(exception: BaseException) -> str:
    return "invalid_request_error" if isinstance(exception, JobInputError) else "runtime_error"
