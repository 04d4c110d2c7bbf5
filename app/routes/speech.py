"""``POST /v1/audio/speech``: OpenAI-compatible text-to-speech, every request a ``speech-<id>`` job.

The handler checks the request, records the job and follows its stream. The worker stores each
sentence's samples as a media object; this process reads them back and encodes them in the
response format, either all at once (a binary body) or chunk by chunk as their events are
recorded (SSE ``audio.*`` events). A streaming response opens only once the worker has accepted
the request (model loaded, voice known), so a bad voice is a 400 in both modes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from quart import Blueprint, Response, current_app

from app.bootstrap import Container
from app.errors import ApiError
from app.job_follow import JobFollower, terminal_error
from app.model_choice import resolve_model
from app.requests import json_object
from app.sse import sse_frame, sse_response
from app.uploads import decode_base64_audio, enforce_upload_limit
from domain.jobs import is_terminal_type
from domain.speech import (
    CATEGORY,
    COMPRESSED_FORMATS,
    FormatChoice,
    SpeechChunkSynthesized,
    SpeechParams,
    SpeechRequest,
    SpeechSynthesisPlanned,
    check_model_support,
    choose_format,
    parse_speech_request,
    summarize,
)
from eventstore.base import RecordedEvent
from eventstore.media import MediaStore
from workers.engines.audio import content_type_for, encode_audio, encoder_available
from workers.speech_jobs import SPEECH_ACTOR, SPEECH_ROUTE

blueprint = Blueprint("speech", __name__)
log = logging.getLogger(__name__)

PLANNED = SpeechSynthesisPlanned.type_for(CATEGORY)
CHUNK = SpeechChunkSynthesized.type_for(CATEGORY)


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


# --- audio ------------------------------------------------------------------------------


def _samples(media: MediaStore, chunk: SpeechChunkSynthesized) -> np.ndarray:
    return np.frombuffer(media.read(chunk.media), dtype="<f4")


def _encode(samples: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    if samples.size == 0 and fmt in COMPRESSED_FORMATS:
        return b""  # an encoder given no samples has no frame to write
    return encode_audio(samples, sample_rate, fmt)


def _encode_chunk(media: MediaStore, chunk: SpeechChunkSynthesized, fmt: str) -> bytes:
    return _encode(_samples(media, chunk), chunk.sample_rate, fmt)


def _encode_all(media: MediaStore, chunks: list[SpeechChunkSynthesized], sample_rate: int, fmt: str) -> bytes:
    parts = [_samples(media, chunk) for chunk in chunks]
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype="<f4")
    return _encode(samples, sample_rate, fmt)


def _chunks(events: list[RecordedEvent]) -> list[SpeechChunkSynthesized]:
    chunks = [SpeechChunkSynthesized.model_validate(e.data) for e in events if e.type == CHUNK]
    return sorted(chunks, key=lambda chunk: chunk.sequence)


# --- the request ------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeechJob:
    stream_id: str
    choice: FormatChoice

    @property
    def request_id(self) -> str:
        return self.stream_id.split("-", 1)[1]


async def _check(
    container: Container, body: dict[str, Any]
) -> tuple[SpeechParams, SpeechRequest, FormatChoice]:
    variant = await resolve_model(container, body.get("model"), SPEECH_ROUTE, what="speech")
    request = parse_speech_request(body)
    check_model_support(request, variant)
    # Asking FFmpeg for its encoders runs it once per process.
    choice = await asyncio.to_thread(
        choose_format,
        request.response_format,
        allow_fallback=request.allow_format_fallback,
        encoder_available=encoder_available,
    )
    if request.saved_voice_id is not None:
        # Saved voices are not stored yet: no id can name one.
        raise ApiError(404, f"no saved voice {request.saved_voice_id}", param="saved_voice_id")
    reference: str | None = None
    if request.reference_audio is not None:
        audio = decode_base64_audio(request.reference_audio, "reference_audio")
        reference = await asyncio.to_thread(container.media.put, audio)
    params = SpeechParams(
        model=variant.id,
        input=request.input,
        voice=request.voice,
        speed=request.speed,
        language=request.language,
        temperature=request.temperature,
        top_k=request.top_k,
        max_tokens=request.max_tokens,
        reference_audio=reference,
        reference_text=request.reference_text,
        response_format=choice.requested,
        audio_format=choice.actual,
    )
    return params, request, choice


@blueprint.post("/v1/audio/speech")
async def create_speech() -> Response:
    """Generate speech: the audio bytes, or SSE ``audio.*`` events (``stream`` or ``stream_format: sse``)."""
    container = _container()
    enforce_upload_limit(container.settings.openai_audio_upload_limit_bytes)
    body = await json_object()
    params, request, choice = await _check(container, body)
    follower = JobFollower.for_request()
    stream_id = await follower.submit(CATEGORY, SPEECH_ACTOR, params.model_dump(mode="json"))
    job = SpeechJob(stream_id, choice)
    if request.stream:
        return await _stream(job, follower, container)
    return await _audio(job, follower, container.media)


async def _audio(job: SpeechJob, follower: JobFollower, media: MediaStore) -> Response:
    result, events = await follower.result(job.stream_id)
    chunks = _chunks(events)
    summary = summarize(chunks, int(result["sample_rate"]))
    fmt = job.choice.actual
    audio = await asyncio.to_thread(_encode_all, media, chunks, summary.sample_rate, fmt)
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


async def _until_planned(events: AsyncIterator[RecordedEvent]) -> SpeechSynthesisPlanned:
    """Follow the job until its worker accepted it; its refusal (e.g. an unknown voice) is raised."""
    async for event in events:
        if event.type == PLANNED:
            return SpeechSynthesisPlanned.model_validate(event.data)
        if is_terminal_type(event.type):
            raise terminal_error(event)
    raise ApiError(503, "The server is shutting down; retry the request.")


async def _close(iterator: AsyncIterator[Any]) -> None:
    """Close an async generator early, running its clean-up (``JobFollower.events`` cancels an
    unfinished job there)."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


def _failed(job: SpeechJob, error: str) -> bytes:
    return sse_frame({"type": "audio.failed", "request_id": job.request_id, "error": error})


async def _frames(
    job: SpeechJob, plan: SpeechSynthesisPlanned, events: AsyncIterator[RecordedEvent], media: MediaStore
) -> AsyncIterator[bytes]:
    started: dict[str, Any] = {
        "type": "audio.started",
        "request_id": job.request_id,
        "sample_rate": plan.sample_rate,
        "audio_format": job.choice.actual,
    }
    if job.choice.fallback_note:
        started["error"] = job.choice.fallback_note
    try:
        yield sse_frame(started)
        async for event in events:
            if event.type == CHUNK:
                chunk = SpeechChunkSynthesized.model_validate(event.data)
                audio = await asyncio.to_thread(_encode_chunk, media, chunk, job.choice.actual)
                yield sse_frame(
                    {
                        "type": "audio.chunk",
                        "request_id": job.request_id,
                        "sequence": chunk.sequence,
                        "audio_base64": base64.b64encode(audio).decode(),
                        "sample_count": chunk.sample_count,
                        "is_final": chunk.is_final,
                    }
                )
            elif event.type.endswith(".completed"):
                result = event.data.get("result") or {}
                yield sse_frame(
                    {
                        "type": "audio.done",
                        "request_id": job.request_id,
                        "tokens_generated": result.get("tokens_generated"),
                        "generation_time_ms": result.get("generation_time_ms"),
                        "audio_duration_secs": result.get("audio_duration_secs"),
                        "rtf": result.get("rtf"),
                    }
                )
                return
            elif is_terminal_type(event.type):
                yield _failed(job, terminal_error(event).message)
                return
        yield _failed(job, "The server is shutting down; retry the request.")
    except ApiError as error:  # no progress before the request timeout
        yield _failed(job, error.message)
    except Exception as error:
        log.exception("speech stream %s failed", job.stream_id)
        yield _failed(job, f"Could not prepare the audio: {type(error).__name__}: {error}")
    finally:
        # An unfinished job is cancelled here (the client went away, or encoding failed).
        await _close(events)


async def _bounded(frames: AsyncIterator[bytes], capacity: int) -> AsyncIterator[bytes]:
    """Prepare at most ``capacity`` frames ahead of the client, in a task of their own."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(capacity)
    failure: list[BaseException] = []

    async def fill() -> None:
        try:
            async for frame in frames:
                await queue.put(frame)
        except Exception as error:
            failure.append(error)
        await queue.put(None)

    task = asyncio.create_task(fill())
    try:
        while (frame := await queue.get()) is not None:
            yield frame
        if failure:
            raise failure[0]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await _close(frames)


async def _stream(job: SpeechJob, follower: JobFollower, container: Container) -> Response:
    events = follower.events(job.stream_id)
    try:
        plan = await _until_planned(events)
    except BaseException:
        await _close(events)
        raise
    settings = container.settings
    frames = _bounded(_frames(job, plan, events, container.media), settings.audio_stream_event_queue_capacity)
    response = sse_response(frames, settings.sse_heartbeat_seconds)
    response.headers.update(job.choice.headers())
    return response
