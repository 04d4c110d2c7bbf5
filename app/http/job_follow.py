"""How an HTTP handler runs a job: submit it, then follow its stream to the terminal event.

Synchronous routes (an OpenAI call that returns one body) and SSE routes go through the
same path: the request and every result are events, so each call is audited. There is no
wall-clock cutoff while the job makes progress: the wait ends only when no event has arrived
for ``idle_timeout`` seconds (then the job is cancelled and the client gets a 504).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from quart import current_app

from app.bootstrap import Container, request_metadata
from app.http.errors import ApiError
from app.http.sse import sse_frame
from domain.errors import InvalidTransition, NotFound
from domain.jobs import JobCancelled, is_completed_type, is_terminal_type
from domain.kinds import JobKind
from eventstore.base import EventFilter, RecordedEvent
from eventstore.subscription import EventHub
from workflows.jobs import JobService

log = logging.getLogger(__name__)
T = TypeVar("T")


class JobTimeout(ApiError):
    def __init__(self, stream_id: str, seconds: float) -> None:
        super().__init__(
            504,
            f"No progress on {stream_id} for {seconds:g}s: the request was cancelled. "
            "The server may be busy with other work; retry, or raise --timeout.",
            error_type="timeout_error",
        )


def shutting_down(then: str = "retry the request") -> ApiError:
    """The answer for a job whose stream stopped before its end: the server is shutting down."""
    return ApiError(503, f"The server is shutting down; {then}.")


def error_event(error: ApiError) -> bytes:
    """The SSE ``error`` event a conversation stream (a thread message, an agent or voice turn)
    sends instead of its end: the message, the status a plain answer would have had, the field."""
    return sse_frame({"error": error.message, "status": error.status, "param": error.param}, event="error")


@dataclass(frozen=True)
class JobEnd:
    """How a followed job ended: its terminal event."""

    event: RecordedEvent

    @property
    def completed(self) -> bool:
        return is_completed_type(self.event.type)

    @property
    def result(self) -> dict[str, Any]:
        return dict(self.event.data.get("result") or {})

    def error(self) -> ApiError:
        return terminal_error(self.event)


def job_end(event: RecordedEvent) -> JobEnd | None:
    """The job's end, when ``event`` is its terminal event (None for any other)."""
    return JobEnd(event) if is_terminal_type(event.type) else None


def terminal_error(event: RecordedEvent) -> ApiError:
    """The client-facing error for a job that failed or was cancelled."""
    if event.type.partition(".")[2] == JobCancelled.verb:
        reason = event.data.get("reason")
        return ApiError(409, f"The request was cancelled{': ' + reason if reason else ''}.")
    message = str(event.data.get("error") or "the job failed")
    if event.data.get("error_type") == "invalid_request_error":
        return ApiError(400, message, param=event.data.get("param"))
    return ApiError(500, message, error_type="server_error")


@dataclass
class JobFollower:
    """Submits jobs and follows their streams; built inside a request, usable after it."""

    jobs: JobService
    hub: EventHub
    idle_timeout: float

    @classmethod
    def for_request(cls) -> JobFollower:
        container: Container = current_app.config["SAUTI_CONTAINER"]
        return cls(container.jobs, current_app.config["SAUTI_EVENT_HUB"], container.settings.timeout)

    async def submit(self, kind: JobKind[Any], params: BaseModel, *, job_id: str | None = None) -> str:
        metadata = request_metadata()
        return await asyncio.to_thread(self.jobs.submit, kind, params, job_id=job_id, metadata=metadata)

    async def submit_then(
        self, kind: JobKind[Any], params: BaseModel, then: Callable[[str], T], *, job_id: str | None = None
    ) -> T:
        """Submit, then ``then(stream_id)`` (reading what the submission made) in the same worker
        thread: one hand-off instead of two."""
        metadata = request_metadata()

        def submit() -> T:
            return then(self.jobs.submit(kind, params, job_id=job_id, metadata=metadata))

        return await asyncio.to_thread(submit)

    async def events(
        self, stream_id: str, *, after: int = 0, cancel_on_disconnect: bool = True
    ) -> AsyncGenerator[RecordedEvent, None]:
        """The stream's events after ``after``, ending with its terminal event.

        If the consumer stops early (a client disconnect) and ``cancel_on_disconnect`` is set,
        the job is cancelled so its worker stops.
        """
        subscription = self.hub.subscribe(after, EventFilter(stream_id=stream_id))
        ended = False
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the request's
                    # cancellation (a client disconnect) when an event arrives at that moment.
                    async with asyncio.timeout(self.idle_timeout):
                        event = await anext(subscription)
                except StopAsyncIteration:
                    return  # the hub is closing (server shutdown)
                except TimeoutError:
                    self.cancel(stream_id, "no progress before the request timeout")
                    ended = True
                    raise JobTimeout(stream_id, self.idle_timeout) from None
                if is_terminal_type(event.type):
                    ended = True
                yield event
                if ended:
                    return
        finally:
            await subscription.aclose()
            if not ended and cancel_on_disconnect:
                self.cancel(stream_id, "the client disconnected")

    async def until_terminal(
        self, stream_id: str, *, cancel_on_disconnect: bool = True
    ) -> list[RecordedEvent]:
        """Every event of the stream, once it has ended."""
        events = self.events(stream_id, cancel_on_disconnect=cancel_on_disconnect)
        return [event async for event in events]

    async def result(
        self, stream_id: str, *, cancel_on_disconnect: bool = True
    ) -> tuple[dict[str, Any], list[RecordedEvent]]:
        """The completed job's result and all its events; the terminal error otherwise."""
        events = await self.until_terminal(stream_id, cancel_on_disconnect=cancel_on_disconnect)
        end = job_end(events[-1]) if events else None
        if end is None:
            raise shutting_down()
        if not end.completed:
            raise end.error()
        return end.result, events

    def cancel(self, stream_id: str, reason: str) -> None:
        """Best effort, from any context (a cancelled task included): the job may have ended."""
        with contextlib.suppress(NotFound, InvalidTransition):
            try:
                self.jobs.request_cancel(stream_id, reason)
            except Exception:
                log.exception("could not cancel %s", stream_id)
