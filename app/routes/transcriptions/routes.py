"""``POST /v1/audio/transcriptions`` (OpenAI-compatible, with SSE) and ``POST /v1/audio/align``.

Each request stores its audio as a media object and runs as a job (``transcription-<id>`` or
``alignment-<id>``): the response is built from the job's events once it ends, or streamed as
its segments are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response, current_app, jsonify

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.job_follow import JobFollower, job_end, shutting_down
from app.http.model_choice import resolve_model
from app.http.request_body import receive_body, request_body
from app.http.sse import sse_frame, sse_response
from app.http.uploads import require_audio
from app.routes.transcriptions.requests import AlignmentBody, TranscriptionBody
from domain.transcription import (
    ALIGNMENT,
    TRANSCRIPTION,
    AlignmentParams,
    AlignmentResult,
    SegmentTranscribed,
    TranscriptionParams,
    TranscriptionResult,
    alignment_json,
    alignment_text,
    is_event,
    text_delta,
    to_srt,
    to_vtt,
    transcribed_segments,
    verbose_transcript,
)

blueprint = Blueprint("transcriptions", __name__)

DIAGNOSTICS_KEY = "sauti_asr_diagnostics"
TEXT_TYPES = {"text": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt"}


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


# --- the options -----------------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptionOptions:
    response_format: str
    granularities: tuple[str, ...]
    stream: bool

    @classmethod
    def of(cls, body: TranscriptionBody) -> TranscriptionOptions:
        granularities = body.timestamp_granularities
        if body.response_format == "verbose_json" and not granularities:
            granularities = ["segment"]
        return cls(body.response_format, tuple(dict.fromkeys(granularities)), body.stream)

    @classmethod
    def read(cls, fields: Mapping[str, Any]) -> TranscriptionOptions:
        """The options of a body's fields (400 naming the first that cannot be honoured)."""
        return cls.of(TranscriptionBody.model_validate(fields))


# --- /v1/audio/transcriptions ------------------------------------------------------------


async def _store_audio(container: Container, audio: bytes) -> str:
    return await asyncio.to_thread(container.media.put, audio)


@blueprint.post("/v1/audio/transcriptions")
@request_body(TranscriptionBody)
async def create_transcription() -> Response:
    """Transcribe audio (OpenAI-compatible); `stream` answers with SSE transcript events."""
    container = _container()
    received = await receive_body(TranscriptionBody, limit=container.settings.openai_audio_upload_limit_bytes)
    fields = received.parse()
    options = TranscriptionOptions.of(fields)
    audio = require_audio(received.upload)
    variant = await resolve_model(
        container, fields.model, TRANSCRIPTION.capability, default_for="asr", what="transcription"
    )
    aligner = None
    if fields.aligner_model not in (None, ""):
        aligner = await resolve_model(
            container,
            fields.aligner_model,
            ALIGNMENT.capability,
            what="forced alignment",
            param="aligner_model",
        )
    params = TranscriptionParams(
        audio=await _store_audio(container, audio),
        model=variant.id,
        language=fields.language or None,
        prompt=fields.prompt or None,
        word_timestamps="word" in options.granularities,
        aligner_model=aligner.id if aligner else None,
    )
    follower = JobFollower.for_request()
    stream_id = await follower.submit(TRANSCRIPTION, params)
    if options.stream:
        return sse_response(_transcript_events(follower, stream_id), container.settings.sse_heartbeat_seconds)
    outcome, events = await follower.result(stream_id)
    result = TranscriptionResult.model_validate(outcome)
    segments = transcribed_segments((event.type, event.data) for event in events)
    return _transcript_response(result, segments, options)


def _transcript_response(
    result: TranscriptionResult, segments: list[SegmentTranscribed], options: TranscriptionOptions
) -> Response:
    fmt = options.response_format
    if fmt == "json":
        return jsonify({"text": result.text})
    if fmt == "verbose_json":
        return jsonify(
            verbose_transcript(
                result, segments, granularities=options.granularities, diagnostics_key=DIAGNOSTICS_KEY
            )
        )
    body = to_srt(segments) if fmt == "srt" else to_vtt(segments) if fmt == "vtt" else result.text + "\n"
    return Response(body, content_type=f"{TEXT_TYPES[fmt]}; charset=utf-8")


def _stream_error(error: ApiError) -> bytes:
    return sse_frame({"type": "error", "error": {"message": error.message, "type": error.error_type}})


async def _transcript_events(follower: JobFollower, stream_id: str) -> AsyncIterator[bytes]:
    """``transcript.text.delta`` per recorded segment, then ``transcript.text.done`` or ``error``."""
    first, ended = True, False
    try:
        # Closed as soon as this stream ends, not when garbage collected: a client gone away
        # cancels the job.
        async with contextlib.aclosing(follower.events(stream_id)) as events:
            async for event in events:
                if is_event(event.type, SegmentTranscribed):
                    segment = SegmentTranscribed.model_validate(event.data)
                    if segment.text.strip():
                        delta = text_delta(segment.text, first=first)
                        yield sse_frame({"type": "transcript.text.delta", "delta": delta})
                        first = False
                elif (end := job_end(event)) is not None:
                    ended = True
                    if not end.completed:
                        yield _stream_error(end.error())
                        continue
                    result = TranscriptionResult.model_validate(end.result)
                    yield sse_frame(
                        {
                            "type": "transcript.text.done",
                            "text": result.text,
                            "language": result.language,
                            "audio_duration_secs": result.duration,
                        }
                    )
        if not ended:
            yield _stream_error(shutting_down())
    except ApiError as error:
        yield _stream_error(error)


# --- /v1/audio/align ---------------------------------------------------------------------


@blueprint.post("/v1/audio/align")
@request_body(AlignmentBody)
async def align_audio() -> Response:
    """Time each word of a known text in the audio (forced alignment)."""
    container = _container()
    received = await receive_body(AlignmentBody, limit=container.settings.openai_audio_upload_limit_bytes)
    fields = received.parse()
    response_format = fields.response_format
    audio = require_audio(received.upload)
    variant = await resolve_model(
        container, fields.model, ALIGNMENT.capability, default_for="alignment", what="forced alignment"
    )
    params = AlignmentParams(
        audio=await _store_audio(container, audio),
        text=fields.spoken_text,
        model=variant.id,
        language=fields.language or None,
    )
    follower = JobFollower.for_request()
    stream_id = await follower.submit(ALIGNMENT, params)
    outcome, _ = await follower.result(stream_id)
    result = AlignmentResult.model_validate(outcome)
    if response_format == "text":
        return Response(alignment_text(result.alignments), content_type="text/plain; charset=utf-8")
    return jsonify(alignment_json(result, verbose=response_format == "verbose_json"))
