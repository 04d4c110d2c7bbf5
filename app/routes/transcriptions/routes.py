"""``POST /v1/audio/transcriptions`` (OpenAI-compatible, with SSE) and ``POST /v1/audio/align``.

Each request stores its audio as a media object and runs as a job (``transcription-<id>`` or
``alignment-<id>``): the response is built from the job's events once it ends, or streamed as
its segments are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response, current_app, jsonify

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.job_follow import JobFollower, job_end, shutting_down
from app.http.model_choice import resolve_model
from app.http.sse import sse_frame, sse_response
from app.http.uploads import read_audio_form, require_audio
from domain.fields import FieldError, choice, optional_bool, optional_int, optional_number, optional_str
from domain.transcription import (
    ALIGNMENT,
    ALIGNMENT_FORMATS,
    TIMESTAMP_GRANULARITIES,
    TRANSCRIPT_FORMATS,
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
GRANULARITIES_PARAM = "timestamp_granularities[]"
TEXT_TYPES = {"text": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt"}


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


# --- reading the form -------------------------------------------------------------------


def _granularities(fields: dict[str, Any]) -> list[str]:
    raw = fields.get("timestamp_granularities", fields.get(GRANULARITIES_PARAM))
    if raw is None:
        return []
    values = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise FieldError("`timestamp_granularities[]` must be a list of strings.", GRANULARITIES_PARAM)
    chosen = [value.strip() for value in values if value.strip()]
    for value in chosen:
        if value not in TIMESTAMP_GRANULARITIES:
            raise FieldError(
                f"Unsupported timestamp granularity {value!r}: use word, segment or both.",
                GRANULARITIES_PARAM,
            )
    return chosen


@dataclass(frozen=True)
class TranscriptionOptions:
    response_format: str
    granularities: tuple[str, ...]
    stream: bool

    @classmethod
    def read(cls, fields: dict[str, Any]) -> TranscriptionOptions:
        response_format = choice(fields, "response_format", TRANSCRIPT_FORMATS, "json")
        granularities = _granularities(fields)
        if granularities and response_format != "verbose_json":
            raise FieldError(
                "`timestamp_granularities[]` requires response_format=verbose_json.", GRANULARITIES_PARAM
            )
        if response_format == "verbose_json" and not granularities:
            granularities = ["segment"]
        # Checked, then not used: the Whisper engine takes no token budget or sampling temperature.
        optional_int(fields, "max_tokens", 1, form=True)
        optional_number(fields, "temperature", 0.0, form=True)
        stream = bool(optional_bool(fields, "stream", form=True))
        return cls(response_format, tuple(dict.fromkeys(granularities)), stream)


# --- /v1/audio/transcriptions ------------------------------------------------------------


async def _store_audio(container: Container, audio: bytes) -> str:
    return await asyncio.to_thread(container.media.put, audio)


@blueprint.post("/v1/audio/transcriptions")
async def create_transcription() -> Response:
    container = _container()
    form = await read_audio_form(container.settings.openai_audio_upload_limit_bytes)
    fields = form.fields
    options = TranscriptionOptions.read(fields)
    language = optional_str(fields, "language")
    prompt = optional_str(fields, "prompt")
    audio = require_audio(form)
    variant = await resolve_model(
        container, fields.get("model"), TRANSCRIPTION.capability, default_for="asr", what="transcription"
    )
    aligner = None
    if fields.get("aligner_model") not in (None, ""):
        aligner = await resolve_model(
            container,
            fields.get("aligner_model"),
            ALIGNMENT.capability,
            what="forced alignment",
            param="aligner_model",
        )
    params = TranscriptionParams(
        audio=await _store_audio(container, audio),
        model=variant.id,
        language=language or None,
        prompt=prompt or None,
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
async def align_audio() -> Response:
    container = _container()
    form = await read_audio_form(container.settings.openai_audio_upload_limit_bytes)
    fields = form.fields
    response_format = choice(fields, "response_format", ALIGNMENT_FORMATS, "json")
    text = optional_str(fields, "text") or optional_str(fields, "reference_text")
    if text is None or not text.strip():
        raise ApiError(
            400, "`text` (or `reference_text`) is required: the words spoken in the audio.", param="text"
        )
    language = optional_str(fields, "language")
    audio = require_audio(form)
    variant = await resolve_model(
        container, fields.get("model"), ALIGNMENT.capability, default_for="alignment", what="forced alignment"
    )
    params = AlignmentParams(
        audio=await _store_audio(container, audio), text=text, model=variant.id, language=language or None
    )
    follower = JobFollower.for_request()
    stream_id = await follower.submit(ALIGNMENT, params)
    outcome, _ = await follower.result(stream_id)
    result = AlignmentResult.model_validate(outcome)
    if response_format == "text":
        return Response(alignment_text(result.alignments), content_type="text/plain; charset=utf-8")
    return jsonify(alignment_json(result, verbose=response_format == "verbose_json"))
