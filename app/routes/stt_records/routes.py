"""Persisted speech-to-text records, one implementation seen through two views of one store:
``/v1/speech-to-text/jobs`` (every job kind) and ``/v1/diarizations`` (diarization records only).

A record is a job stream (docs/speech-to-text-records.md); these routes append its request and
edits, and read the ``stt_records`` projection, which is updated in the append's transaction.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response, current_app, jsonify, request
from quart_schema import validate_querystring

from app.bootstrap import Container, request_metadata
from app.http.errors import ApiError
from app.http.job_follow import JobFollower
from app.http.media_download import send_media
from app.http.model_choice import resolve_model
from app.http.pagination import newest_first_page
from app.http.request_body import Received, receive_body, request_body, request_body_for
from app.http.route_sets import Route, add_route_set
from app.http.uploads import OCTET_STREAM, RECORD_UPLOAD_LIMIT
from app.projections.stt_record_queries import find_record, records_page
from app.records import deletion
from app.routes.events.routes import StreamEventsQuery, follow_events, one_stream_events
from app.routes.stt_records.removed import register_removed_routes
from app.routes.stt_records.requests import (
    DiarizationJobBody,
    EditBody,
    JobBody,
    SummaryBody,
    model_field,
    read_record_request,
)
from domain.events import DomainEvent, new_id
from domain.fields import FieldError
from domain.generation import CHAT
from domain.stt_records import (
    DIARIZATION,
    JOB_KINDS,
    RECORD_DELETED_REASON,
    RecordDeleted,
    job_kind,
    job_of,
    record_json,
    record_update,
)
from eventstore.base import EventFilter, category_of
from workflows.jobs import to_new_event
from workflows.summaries import request_summary

blueprint = Blueprint("stt_records", __name__)

Row = dict[str, Any]


@dataclass(frozen=True)
class View:
    name: str
    base: str
    object_name: str
    kinds: tuple[str, ...]
    """The job kinds it shows; the first is what it creates by default."""
    noun: str


JOBS = View("stt_jobs", "/v1/speech-to-text/jobs", "speech_to_text.job", JOB_KINDS, "speech-to-text job")
DIARIZATIONS = View("diarizations", "/v1/diarizations", "diarization", (DIARIZATION,), "diarization record")


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def _kind(view: View, value: object, *, allow_all: bool) -> str | None:
    kind = job_kind(value, allow_all=allow_all)
    if kind is not None and kind not in view.kinds:
        raise FieldError(f"{view.base} serves {', '.join(view.kinds)} records only.", "job_kind")
    return kind


def _kinds(view: View) -> tuple[str, ...]:
    """The kinds the request's ``job_kind`` selects (every kind of the view when absent or all)."""
    kind = _kind(view, request.args.get("job_kind"), allow_all=True)
    return (kind,) if kind else view.kinds


async def _record(view: View, record_id: str) -> Row:
    row = await asyncio.to_thread(find_record, _container().engine, record_id, _kinds(view))
    if row is None:
        raise ApiError(404, f"No {view.noun} {record_id!r}.", param="record_id")
    return row


def _json(view: View, row: Row, *, full: bool = True) -> dict[str, Any]:
    return record_json(row, object_name=view.object_name, base_url=view.base, full=full)


async def _current(view: View, row: Row, status: int = 200) -> Response:
    """The record as it stands now: the projection is written with the events, so it holds this
    request's own change."""
    fresh = await asyncio.to_thread(find_record, _container().engine, row["id"], (row["job_kind"],))
    if fresh is None:
        raise ApiError(404, f"No {view.noun} {row['id']!r}.", param="record_id")
    response = jsonify(_json(view, fresh))
    response.status_code = status
    return response


def _append(container: Container, row: Row, event: DomainEvent) -> None:
    stream_id = row["stream_id"]
    metadata = {"correlation_id": stream_id, **request_metadata()}
    container.store.append(stream_id, [to_new_event(category_of(stream_id), event, metadata=metadata)])


# --- the collection ---------------------------------------------------------------------


async def list_records(view: View) -> Any:
    """Records, newest first, with cursor pagination (`limit` up to 500, `cursor`); `job_kind`
    filters (transcription, speaker_attributed_asr or saa, diarization, all). Segments and speaker
    turns are left out: fetch a record for them."""
    kinds = _kinds(view)
    return await newest_first_page(
        functools.partial(records_page, _container().engine, kinds), lambda row: _json(view, row, full=False)
    )


def job_body(view: View) -> type[JobBody]:
    """The create body of the view: the diarization view creates diarization records only."""
    return DiarizationJobBody if view.kinds == (DIARIZATION,) else JobBody


@request_body_for(job_body)
async def create_record(view: View) -> Any:
    """Create a job from JSON (`audio_base64`) or a multipart upload (`file` or `audio`), up to
    64 MiB: `job_kind`, `model`/`model_id`, `language`, `title`, `generate_summary`,
    `min_speakers`, `max_speakers`. Answers 202 with the queued record; `stream=true` answers with
    the job's events (SSE) until it ends."""
    container = _container()
    received: Received[JobBody] = await receive_body(job_body(view), limit=RECORD_UPLOAD_LIMIT)
    value = request.args.get("job_kind") or received.get("job_kind")
    kind = _kind(view, value, allow_all=False) or view.kinds[0]
    job = await read_record_request(container, kind, received)
    record_id = new_id()
    follower = JobFollower.for_request()
    if job.stream:
        stream_id = await follower.submit(job_of(kind), job.params, job_id=record_id)
        return await follow_events(EventFilter(stream_id=stream_id), 0, until_terminal=True)
    # The projection is written with the events, so the record read right after holds the job.
    row = await follower.submit_then(
        job_of(kind),
        job.params,
        lambda _: find_record(container.engine, record_id, (kind,)),
        job_id=record_id,
    )
    if row is None:
        raise ApiError(404, f"No {view.noun} {record_id!r}.", param="record_id")
    response = jsonify(_json(view, row))
    response.status_code = 202
    response.headers["Location"] = f"{view.base}/{record_id}"
    return response


# --- one record -------------------------------------------------------------------------


async def get_record(view: View, record_id: str) -> Any:
    """One record (`job_kind` disambiguates; a record of another kind is not found)."""
    return _json(view, await _record(view, record_id))


@request_body(EditBody)
async def update_record(view: View, record_id: str) -> Any:
    """Edit `title`, `text` (transcripts), `speaker_labels` (`{"SPEAKER_00": "Alice"}`, null
    removes one) or `summary` (null clears it); only the fields sent change."""
    row = await _record(view, record_id)
    received = await receive_body(EditBody)
    edit = record_update(received.fields, row["job_kind"], json.loads(row["speakers"]))
    await asyncio.to_thread(_append, _container(), row, edit)
    return await _current(view, row)


async def delete_record(view: View, record_id: str) -> Any:
    """Delete the record and its stored audio (a job in flight is cancelled first). Its events
    stay: the audit keeps that it existed, not the audio."""
    row = await _record(view, record_id)
    await asyncio.to_thread(
        deletion.delete_record, _container(), row["stream_id"], RecordDeleted(), reason=RECORD_DELETED_REASON
    )
    return {"id": row["id"], "object": view.object_name, "deleted": True}


async def record_audio(view: View, record_id: str) -> Any:
    """The stored source audio, with its content type; `Range` requests are answered with 206."""
    row = await _record(view, record_id)
    return await send_media(
        _container().media,
        row["audio"],
        content_type=row["content_type"] or OCTET_STREAM,
        filename=row["filename"],
        missing=f"The audio of {view.noun} {record_id!r} is no longer stored.",
    )


async def rerun_record(view: View, record_id: str) -> Any:
    """Run the job again from the stored audio, as the next run of the same stream (409 while it
    is still going)."""
    row = await _record(view, record_id)
    await asyncio.to_thread(_container().jobs.rerun, row["stream_id"], request_metadata())
    return await _current(view, row, 202)


async def cancel_record(view: View, record_id: str) -> Any:
    """Cancel the job: at once while queued, between steps while running (409 once it ended)."""
    row = await _record(view, record_id)
    await asyncio.to_thread(
        _container().jobs.request_cancel, row["stream_id"], "cancelled by the client", request_metadata()
    )
    return await _current(view, row)


@request_body(SummaryBody)
async def regenerate_summary(view: View, record_id: str) -> Any:
    """Generate the record's summary again with the chat model `model` (default: the default chat
    model); the summary streams into the record's events."""
    container = _container()
    row = await _record(view, record_id)
    received = await receive_body(SummaryBody)
    if row["processing_status"] != "ready":
        raise ApiError(409, f"The record is {row['processing_status']}: a summary needs a finished job.")
    param, model = model_field(received.fields)
    variant = await resolve_model(
        container, model, CHAT.capability, default_for="chat", what="summaries", param=param
    )
    await asyncio.to_thread(
        request_summary,
        container.store,
        container.jobs.dispatcher,
        row["stream_id"],
        variant.id,
        request_metadata(),
    )
    return await _current(view, row, 202)


@validate_querystring(StreamEventsQuery)
async def record_events(view: View, record_id: str, query_args: StreamEventsQuery) -> Any:
    """The record's events: a JSON page, or with `Accept: text/event-stream` a live stream
    (resume with `Last-Event-ID`; `until=terminal` closes after the job ends): progress,
    segments as they are transcribed, diarization stages, summary deltas."""
    row = await _record(view, record_id)
    return await one_stream_events(row["stream_id"], query_args)


# --- registration -----------------------------------------------------------------------

MEMBER = "/<record_id>"
ROUTES: tuple[Route, ...] = (
    ("", list_records, ["GET"]),
    ("", create_record, ["POST"]),
    (MEMBER, get_record, ["GET"]),
    (MEMBER, update_record, ["PATCH", "PUT"]),
    (MEMBER, delete_record, ["DELETE"]),
    (f"{MEMBER}/audio", record_audio, ["GET"]),
    (f"{MEMBER}/reruns", rerun_record, ["POST"]),
    (f"{MEMBER}/cancel", cancel_record, ["POST"]),
    (f"{MEMBER}/summary/regenerate", regenerate_summary, ["POST"]),
    (f"{MEMBER}/events", record_events, ["GET"]),
)

add_route_set(blueprint, (JOBS, DIARIZATIONS), ROUTES)
register_removed_routes(blueprint)
