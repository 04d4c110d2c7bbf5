"""Speech history: ``/v1/text-to-speech``, ``/v1/voice-designs`` and ``/v1/voice-clones``.

A record is a ``speech-<record id>`` job with ``record: true`` (docs/speech-records.md): these
routes check the request (as ``POST /v1/audio/speech`` does), submit the job and follow it, and
read the ``speech_records`` projection, which is updated in the append's transaction. A client
that goes away does not cancel the job: the record is finished and kept.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response, current_app, jsonify

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.job_follow import JobFollower, job_end, shutting_down
from app.http.media_download import send_media
from app.http.pagination import newest_first_page
from app.http.request_body import request_body_for
from app.http.route_sets import Route, add_route_set
from app.http.sse import sse_frame, sse_response
from app.projections.speech_record_queries import find_record, records_page
from app.records import deletion
from app.routes.speech.record_requests import choose_model, read_create_body
from app.routes.speech.requests import check_speech, record_body
from app.routes.speech.stream import (
    CHUNK,
    bounded,
    chunk_fields,
    close_iterator,
    generation_stats,
    request_id_of,
    start_fields,
    until_planned,
)
from domain.events import new_id
from domain.speech import SPEECH, FormatChoice, SpeechSynthesisPlanned
from domain.speech_records import FAMILIES, Family, check_family_request, record_json
from domain.stt_records import RECORD_DELETED_REASON, RecordDeleted

blueprint = Blueprint("speech_records", __name__)
log = logging.getLogger(__name__)

Row = dict[str, Any]
WAV = "audio/wav"


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


async def _find(container: Container, family: Family, record_id: str) -> Row:
    row = await asyncio.to_thread(find_record, container.engine, record_id, family.name)
    if row is None:
        raise ApiError(404, f"No {family.noun} {record_id!r}.", param="record_id")
    return row


# --- the collection ---------------------------------------------------------------------


async def list_records(family: Family) -> Any:
    """The family's records, newest first, with cursor pagination (`limit` up to 500, `cursor`)."""
    return await newest_first_page(
        functools.partial(records_page, _container().engine, family.name), record_json
    )


@request_body_for(record_body)
async def create_record(family: Family) -> Any:
    """Generate speech and keep it as a record. JSON (or multipart with a `reference_audio` file)
    with the fields of /v1/audio/speech: `model` (default: the first installed model for the
    family), `input`, `voice`, `speed`, `language`, `instructions` (voice designs),
    `reference_audio` + `reference_text` or `saved_voice_id` (voice clones). Answers 201 with the
    completed record; `stream: true` (or `stream_format: sse`) answers JSON SSE events `created`,
    `start`, `chunk`…, `final`, then `done` (`error` before `done` when the job fails)."""
    container = _container()
    received = await read_create_body(family)
    variant = await choose_model(container, family, received.get("model"))
    checked = await check_speech(
        container,
        variant,
        received.parse().request(),
        require=functools.partial(check_family_request, family),
        family=family.name,
    )
    follower = JobFollower.for_request()
    stream_id = await follower.submit(SPEECH, checked.params, job_id=new_id())
    job = RecordJob(family, stream_id, checked.choice)
    if checked.request.stream:
        return await _stream(job, follower, container)
    await follower.result(stream_id, cancel_on_disconnect=False)
    row = await _find(container, family, job.record_id)
    response = jsonify(record_json(row))
    response.status_code = 201
    response.headers["Location"] = f"{family.base}/{job.record_id}"
    return response


# --- one record -------------------------------------------------------------------------


async def get_record(family: Family, record_id: str) -> Any:
    """One record of the family."""
    return record_json(await _find(_container(), family, record_id))


async def delete_record(family: Family, record_id: str) -> Any:
    """Delete the record and its audio (a job in flight is cancelled first). Its events stay: the
    audit keeps that it existed, not the audio."""
    container = _container()
    row = await _find(container, family, record_id)
    await asyncio.to_thread(
        deletion.delete_record, container, row["stream_id"], RecordDeleted(), reason=RECORD_DELETED_REASON
    )
    return {"id": row["id"], "object": family.object_name, "deleted": True}


async def record_audio(family: Family, record_id: str) -> Any:
    """The record's audio as WAV; `Range` requests are answered with 206."""
    container = _container()
    row = await _find(container, family, record_id)
    if row["audio"] is None:
        raise ApiError(404, f"The {family.noun} {record_id!r} has no audio: it is {row['status']}.")
    return await send_media(
        container.media,
        row["audio"],
        content_type=WAV,
        filename=f"{family.name}-{record_id}.wav",
        missing=f"The audio of {family.noun} {record_id!r} is no longer stored.",
    )


# --- streaming --------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordJob:
    family: Family
    stream_id: str
    choice: FormatChoice

    @property
    def record_id(self) -> str:
        return request_id_of(self.stream_id)


async def _stream(job: RecordJob, follower: JobFollower, container: Container) -> Response:
    """SSE once the worker accepted the job (its refusal, e.g. an unknown voice, is a 400)."""
    events = follower.events(job.stream_id, cancel_on_disconnect=False)
    try:
        plan = await until_planned(events)
    except BaseException:
        await close_iterator(events)
        raise
    settings = container.settings
    frames = bounded(_frames(job, plan, events, container), settings.audio_stream_event_queue_capacity)
    response = sse_response(frames, settings.sse_heartbeat_seconds)
    response.headers.update(job.choice.headers())
    return response


async def _record(job: RecordJob, container: Container) -> dict[str, Any]:
    row = await asyncio.to_thread(find_record, container.engine, job.record_id, job.family.name)
    if row is None:
        raise ApiError(404, f"The {job.family.noun} {job.record_id!r} was deleted.")
    return record_json(row)


async def _final(job: RecordJob, container: Container, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": "final",
        "request_id": job.record_id,
        **generation_stats(result),
        "record": await _record(job, container),
    }


async def _frames(
    job: RecordJob, plan: SpeechSynthesisPlanned, events: AsyncIterator[Any], container: Container
) -> AsyncIterator[bytes]:
    started = {"event": "start", "request_id": job.record_id, **start_fields(plan, job.choice)}
    try:
        yield sse_frame({"event": "created", "record": await _record(job, container)})
        yield sse_frame(started)
        async for event in events:
            if event.type == CHUNK:
                fields = await chunk_fields(container.media, event.data, job.choice.actual)
                yield sse_frame({"event": "chunk", "request_id": job.record_id, **fields})
            elif (end := job_end(event)) is not None:
                if end.completed:
                    yield sse_frame(await _final(job, container, end.result))
                else:
                    yield sse_frame({"event": "error", "error": end.error().message})
                break
        else:
            yield sse_frame({"event": "error", "error": shutting_down().message})
    except ApiError as error:  # no progress before the request timeout, or the record was deleted
        yield sse_frame({"event": "error", "error": error.message})
    except Exception as error:
        log.exception("speech record stream %s failed", job.stream_id)
        yield sse_frame({"event": "error", "error": f"Could not prepare the audio: {error}"})
    finally:
        await close_iterator(events)
    yield sse_frame({"event": "done", "request_id": job.record_id})


# --- registration -----------------------------------------------------------------------

MEMBER = "/<record_id>"
ROUTES: tuple[Route, ...] = (
    ("", list_records, ["GET"]),
    ("", create_record, ["POST"]),
    (MEMBER, get_record, ["GET"]),
    (MEMBER, delete_record, ["DELETE"]),
    (f"{MEMBER}/audio", record_audio, ["GET"]),
)
add_route_set(blueprint, FAMILIES, ROUTES)
