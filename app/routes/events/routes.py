"""Audit routes: every event, as JSON pages or as a resumable SSE stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

from pydantic import BaseModel, Field
from quart import Blueprint, Response, current_app, request
from quart_schema import validate_querystring

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.pagination import clamp_limit, cursor_position, encode_cursor, page
from app.http.sse import sse_frame, sse_response, wants_event_stream
from domain.jobs import is_terminal_type
from eventstore.base import EventFilter, RecordedEvent
from eventstore.subscription import EventHub

blueprint = Blueprint("events", __name__)


class EventsQuery(BaseModel):
    stream: str | None = Field(default=None, description="Only this stream id.")
    category: str | None = Field(
        default=None, description="Only streams of this category, e.g. `transcription`."
    )
    type: str | None = Field(default=None, description="Only these event types, comma-separated.")
    after: int | None = Field(default=None, ge=0, description="Start after this global position.")
    cursor: str | None = Field(default=None, description="Opaque cursor from the previous page.")
    limit: int | None = Field(default=None, description="Page size, clamped to 1..500 (default 50).")
    until: Literal["terminal"] | None = Field(
        default=None, description="SSE only: `terminal` closes after a terminal event."
    )


class StreamEventsQuery(BaseModel):
    after: int | None = Field(default=None, ge=0, description="Start after this global position.")
    cursor: str | None = None
    limit: int | None = None
    until: Literal["terminal"] | None = Field(
        default=None, description="SSE only: `terminal` closes after a terminal event."
    )


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def _hub() -> EventHub:
    return current_app.config["SAUTI_EVENT_HUB"]


def _start_position(after: int | None, cursor: str | None) -> int:
    if cursor is not None:
        return cursor_position(cursor, "after")
    if request.headers.get("Last-Event-ID"):
        try:
            return max(0, int(request.headers["Last-Event-ID"]))
        except ValueError:
            raise ApiError(
                400, "Last-Event-ID must be an event position (an integer).", param="Last-Event-ID"
            ) from None
    return after or 0


async def _json_page(filter: EventFilter, start: int, limit: int | None) -> dict[str, object]:
    size = clamp_limit(limit)
    events = await asyncio.to_thread(_container().store.read_all, start, size + 1, filter)
    has_more = len(events) > size
    events = events[:size]
    next_cursor = encode_cursor({"after": events[-1].position}) if has_more else None
    return page([event.to_json() for event in events], size, next_cursor)


async def follow_events(filter: EventFilter, start: int, until_terminal: bool) -> Response:
    # The generator runs after the request context is gone: take what it needs now.
    hub = _hub()
    if until_terminal and filter.stream_id is not None:
        ended = await asyncio.to_thread(_terminal_position, filter.stream_id)
        if ended is not None and ended <= start:
            # The client already saw the end (a reconnect after the terminal event).
            return sse_response(_nothing(), _container().settings.sse_heartbeat_seconds)

    async def frames() -> AsyncIterator[bytes]:
        async for event in hub.subscribe(start, filter):
            yield _frame(event)
            if until_terminal and is_terminal_type(event.type):
                return

    return sse_response(frames(), _container().settings.sse_heartbeat_seconds)


def _terminal_position(stream_id: str) -> int | None:
    events = _container().store.read_stream(stream_id)
    terminal = [e.position for e in events if is_terminal_type(e.type)]
    return terminal[-1] if terminal else None


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield  # an empty async generator


def _frame(event: RecordedEvent) -> bytes:
    return sse_frame(event.to_json(), event=event.type, id=event.position)


@blueprint.get("/v1/events")
@validate_querystring(EventsQuery)
async def list_events(query_args: EventsQuery) -> object:
    """Every recorded event, oldest first; `Accept: text/event-stream` follows live."""
    types = tuple(t.strip() for t in (query_args.type or "").split(",") if t.strip())
    filter = EventFilter(stream_id=query_args.stream, category=query_args.category, types=types)
    start = _start_position(query_args.after, query_args.cursor)
    if wants_event_stream(request.headers.get("Accept")):
        return await follow_events(filter, start, query_args.until == "terminal")
    return await _json_page(filter, start, query_args.limit)


@blueprint.get("/v1/streams/<stream_id>/events")
@validate_querystring(StreamEventsQuery)
async def stream_events(stream_id: str, query_args: StreamEventsQuery) -> object:
    """One stream's events; `Accept: text/event-stream` follows it (resume with `Last-Event-ID`)."""
    if await asyncio.to_thread(_container().store.stream_version, stream_id) == 0:
        raise ApiError(404, f"No stream {stream_id!r}.", param="stream_id")
    return await one_stream_events(stream_id, query_args)


async def one_stream_events(stream_id: str, query_args: StreamEventsQuery) -> object:
    """A JSON page of the stream's events, or (``Accept: text/event-stream``) its live SSE
    stream, resumed after ``Last-Event-ID``."""
    filter = EventFilter(stream_id=stream_id)
    start = _start_position(query_args.after, query_args.cursor)
    if wants_event_stream(request.headers.get("Accept")):
        return await follow_events(filter, start, query_args.until == "terminal")
    return await _json_page(filter, start, query_args.limit)
