"""``POST /v1/audio/speech``: OpenAI-compatible text-to-speech, every request a ``speech-<id>`` job.

The handler checks the request, records the job and follows its stream. The worker stores each
sentence's samples as a media object and, for a compressed response format, the audio encoded in it
(the whole, or each chunk for a stream): this process runs no encoder. It sends the audio either all
at once (a binary body) or chunk by chunk as their events are recorded (SSE ``audio.*`` events).
A streaming response opens only once the worker has accepted the request (model loaded, voice
known), so a bad voice is a 400 in both modes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from quart import Blueprint, Response, current_app

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.job_follow import JobFollower, job_end, shutting_down
from app.http.model_choice import resolve_model
from app.http.request_body import receive_body, request_body
from app.http.sse import sse_frame, sse_response
from app.http.uploads import enforce_upload_limit
from app.routes.speech.requests import SpeechBody, check_speech
from app.routes.speech.stream import (
    CHUNK,
    bounded,
    chunk_fields,
    chunks_of,
    close_iterator,
    generation_stats,
    request_id_of,
    start_fields,
    until_planned,
    whole_audio,
)
from domain.speech import SPEECH, FormatChoice, SpeechSynthesisPlanned, summarize
from eventstore.base import RecordedEvent
from eventstore.media import MediaStore
from workers.engines.audio import content_type_for

blueprint = Blueprint("speech", __name__)
log = logging.getLogger(__name__)


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


@dataclass(frozen=True)
class SpeechJob:
    stream_id: str
    choice: FormatChoice

    @property
    def request_id(self) -> str:
        return request_id_of(self.stream_id)


@blueprint.post("/v1/audio/speech")
@request_body(SpeechBody)
async def create_speech() -> Response:
    """Generate speech: the audio bytes, or SSE ``audio.*`` events (``stream`` or ``stream_format: sse``)."""
    container = _container()
    enforce_upload_limit(container.settings.openai_audio_upload_limit_bytes)
    received = await receive_body(SpeechBody)
    variant = await resolve_model(container, received.get("model"), SPEECH.capability, what="speech")
    checked = await check_speech(container, variant, received.parse().request())
    follower = JobFollower.for_request()
    stream_id = await follower.submit(SPEECH, checked.params)
    job = SpeechJob(stream_id, checked.choice)
    if checked.request.stream:
        return await _stream(job, follower, container)
    return await _audio(job, follower, container.media)


async def _audio(job: SpeechJob, follower: JobFollower, media: MediaStore) -> Response:
    result, events = await follower.result(job.stream_id)
    chunks = chunks_of(events)
    summary = summarize(chunks, int(result["sample_rate"]))
    fmt = job.choice.actual
    audio = await asyncio.to_thread(whole_audio, media, chunks, result, fmt)
    headers = {
        **job.choice.headers(),
        "X-Sample-Rate": str(summary.sample_rate),
        "X-Audio-Duration-Secs": f"{summary.audio_duration_secs:.3f}",
        "X-Generation-Time-Ms": f"{summary.generation_time_ms:.1f}",
    }
    if summary.rtf is not None:
        headers["X-RTF"] = f"{summary.rtf:.4f}"
    return Response(audio, content_type=content_type_for(fmt), headers=headers)


# --- streaming --------------------------------------------------------------------------


def _failed(job: SpeechJob, error: str) -> bytes:
    return sse_frame({"type": "audio.failed", "request_id": job.request_id, "error": error})


async def _frames(
    job: SpeechJob, plan: SpeechSynthesisPlanned, events: AsyncIterator[RecordedEvent], media: MediaStore
) -> AsyncIterator[bytes]:
    started = {"type": "audio.started", "request_id": job.request_id, **start_fields(plan, job.choice)}
    try:
        yield sse_frame(started)
        async for event in events:
            if event.type == CHUNK:
                fields = await chunk_fields(media, event.data, job.choice.actual)
                yield sse_frame({"type": "audio.chunk", "request_id": job.request_id, **fields})
            elif (end := job_end(event)) is not None:
                if end.completed:
                    stats = generation_stats(end.result)
                    yield sse_frame({"type": "audio.done", "request_id": job.request_id, **stats})
                else:
                    yield _failed(job, end.error().message)
                return
        yield _failed(job, shutting_down().message)
    except ApiError as error:  # no progress before the request timeout
        yield _failed(job, error.message)
    except Exception as error:
        log.exception("speech stream %s failed", job.stream_id)
        yield _failed(job, f"Could not prepare the audio: {type(error).__name__}: {error}")
    finally:
        # An unfinished job is cancelled here (the client went away, or encoding failed).
        await close_iterator(events)


async def _stream(job: SpeechJob, follower: JobFollower, container: Container) -> Response:
    events = follower.events(job.stream_id)
    try:
        plan = await until_planned(events)
    except BaseException:
        await close_iterator(events)
        raise
    settings = container.settings
    frames = bounded(_frames(job, plan, events, container.media), settings.audio_stream_event_queue_capacity)
    response = sse_response(frames, settings.sse_heartbeat_seconds)
    response.headers.update(job.choice.headers())
    return response
