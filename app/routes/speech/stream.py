"""Following a speech job as it is synthesized, shared by ``POST /v1/audio/speech`` and the speech
history routes: its chunks' audio read back from the media store (a compressed format as the worker
encoded it; WAV and PCM laid out from the samples), the wait for the
worker to accept the job, and SSE frames prepared a bounded number ahead of the client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from app.http.errors import ApiError
from app.http.job_follow import job_end, shutting_down
from domain.speech import (
    CATEGORY,
    COMPRESSED_FORMATS,
    FormatChoice,
    SpeechChunkSynthesized,
    SpeechSynthesisPlanned,
)
from eventstore.base import RecordedEvent
from eventstore.media import MediaStore
from workers.engines.audio import encode_audio

PLANNED = SpeechSynthesisPlanned.type_for(CATEGORY)
CHUNK = SpeechChunkSynthesized.type_for(CATEGORY)


def request_id_of(stream_id: str) -> str:
    """A speech job's request id: its stream's entity id."""
    return stream_id.split("-", 1)[1]


# --- audio ------------------------------------------------------------------------------


def _samples(media: MediaStore, chunk: SpeechChunkSynthesized) -> np.ndarray:
    return np.frombuffer(media.read(chunk.media), dtype="<f4")


def _encoded(media: MediaStore, digest: str | None, samples: int, what: str) -> bytes:
    """Audio a worker encoded (compressed formats: the web process runs no encoder)."""
    if samples == 0:
        return b""  # an encoder given no samples has no frame to write
    if digest is None:
        raise ApiError(500, f"The worker stored no encoded audio for {what}.", error_type="server_error")
    return media.read(digest)


def chunk_audio(media: MediaStore, chunk: SpeechChunkSynthesized, fmt: str) -> bytes:
    """One chunk's audio in ``fmt``: the worker's encoding of a compressed format, else the samples
    laid out as WAV or PCM here (no encoder involved)."""
    if fmt in COMPRESSED_FORMATS:
        return _encoded(media, chunk.encoded, chunk.sample_count, f"chunk {chunk.sequence}")
    return encode_audio(_samples(media, chunk), chunk.sample_rate, fmt)


def whole_audio(
    media: MediaStore, chunks: list[SpeechChunkSynthesized], result: dict[str, Any], fmt: str
) -> bytes:
    """The job's whole audio in ``fmt`` (a compressed format as the worker encoded it)."""
    if fmt in COMPRESSED_FORMATS:
        total = sum(chunk.sample_count for chunk in chunks)
        return _encoded(media, result.get("encoded_audio"), total, "the audio")
    parts = [_samples(media, chunk) for chunk in chunks]
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype="<f4")
    return encode_audio(samples, int(result["sample_rate"]), fmt)


def chunks_of(events: list[RecordedEvent]) -> list[SpeechChunkSynthesized]:
    chunks = [SpeechChunkSynthesized.model_validate(e.data) for e in events if e.type == CHUNK]
    return sorted(chunks, key=lambda chunk: chunk.sequence)


# --- SSE payloads (the two routes name their events differently) -------------------------


def start_fields(plan: SpeechSynthesisPlanned, choice: FormatChoice) -> dict[str, Any]:
    """What a stream's start event says: the audio's sample rate and format (and a fallback)."""
    fields: dict[str, Any] = {"sample_rate": plan.sample_rate, "audio_format": choice.actual}
    if choice.fallback_note:
        fields["error"] = choice.fallback_note
    return fields


async def chunk_fields(media: MediaStore, data: dict[str, Any], fmt: str) -> dict[str, Any]:
    """A ``chunk_synthesized`` event's audio, encoded in ``fmt``, as a chunk event carries it."""
    chunk = SpeechChunkSynthesized.model_validate(data)
    audio = await asyncio.to_thread(chunk_audio, media, chunk, fmt)
    return {
        "sequence": chunk.sequence,
        "audio_base64": base64.b64encode(audio).decode(),
        "sample_count": chunk.sample_count,
        "is_final": chunk.is_final,
    }


def generation_stats(result: dict[str, Any]) -> dict[str, Any]:
    """The completed job's figures that a stream's final event reports."""
    return {
        key: result.get(key)
        for key in ("tokens_generated", "generation_time_ms", "audio_duration_secs", "rtf")
    }


# --- following the job ------------------------------------------------------------------


async def until_planned(events: AsyncIterator[RecordedEvent]) -> SpeechSynthesisPlanned:
    """Follow the job until its worker accepted it; its refusal (e.g. an unknown voice) is raised."""
    async for event in events:
        if event.type == PLANNED:
            return SpeechSynthesisPlanned.model_validate(event.data)
        if (end := job_end(event)) is not None:
            raise end.error()
    raise shutting_down()


async def close_iterator(iterator: AsyncIterator[Any]) -> None:
    """Close an async generator early, running its clean-up (``JobFollower.events`` cancels an
    unfinished job there, unless told not to)."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def bounded(frames: AsyncIterator[bytes], capacity: int) -> AsyncIterator[bytes]:
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
        await close_iterator(frames)
