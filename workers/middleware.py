"""Dramatiq middleware that ties message outcomes to job streams.

``JobRetries`` replaces Dramatiq's ``Retries``: it retries failed messages with exponential
backoff and records each outcome in the job's event stream (``<category>.retrying`` or
``<category>.failed``). A job interrupted by a worker shutdown is requeued at once and
does not count as a failed attempt.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import dramatiq
from dramatiq.common import compute_backoff
from dramatiq.middleware import Middleware

from eventstore.base import EventStore
from workflows.jobs import JobInputError, WorkerShuttingDown, record_failure, record_retry

log = logging.getLogger(__name__)


class JobRetries(Middleware):
    def __init__(
        self, store: EventStore, *, max_retries: int = 3, min_backoff: int = 1000, max_backoff: int = 60_000
    ) -> None:
        self.store = store
        self.max_retries = max_retries
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff

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
            broker.enqueue(message)
            return

        actor = broker.get_actor(message.actor_name)
        stream_id = message.kwargs.get("stream_id") if isinstance(message.kwargs, dict) else None
        error = f"{type(exception).__name__}: {exception}"
        retries = message.options.get("retries", 0)
        throws = self._option(actor, message, "throws", None)
        permanent = isinstance(exception, JobInputError) or (throws and isinstance(exception, throws))
        if permanent or retries >= self._option(actor, message, "max_retries", self.max_retries):
            log.warning("message %s failed for good: %s", message.message_id, error)
            message.fail()
            if stream_id:
                record_failure(self.store, stream_id, message.message_id, error, _error_type(exception))
            return

        message.options["retries"] = retries + 1
        message.options["traceback"] = traceback.format_exc(limit=30)
        _, delay = compute_backoff(
            retries,
            factor=self._option(actor, message, "min_backoff", self.min_backoff),
            max_backoff=self._option(actor, message, "max_backoff", self.max_backoff),
        )
        if stream_id:
            record_retry(self.store, stream_id, message.message_id, error, delay)
        log.info("retrying message %s in %d ms after %s", message.message_id, delay, error)
        broker.enqueue(message, delay=delay)


def _error_type(exception: BaseException) -> str:
    return "invalid_request_error" if isinstance(exception, JobInputError) else "runtime_error"
