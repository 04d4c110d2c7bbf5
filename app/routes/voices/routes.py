"""Saved voices (``/v1/voices``): reusable voice-clone references, each a ``voice-<id>`` stream
(docs/saved-voices.md).

A voice created with its transcript is saved at once (``voice.saved``). Without one, the transcript
is found by a worker job with the default ASR model, and the request waits for it: the answer is
the ready voice either way. The routes read the ``saved_voices`` projection, which is written in
the append's transaction.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from quart import Blueprint, Response, current_app, jsonify

from app.bootstrap import Container, request_metadata
from app.http.errors import ApiError
from app.http.job_follow import JobFollower, JobTimeout, job_end, shutting_down
from app.http.media_download import send_media
from app.http.pagination import newest_first_page
from app.http.request_body import receive_body, request_body
from app.http.uploads import OCTET_STREAM
from app.projections.saved_voice_queries import find_voice, voices_page
from app.records import deletion
from app.routes.voices.requests import VOICE_UPLOAD_LIMIT, VoiceBody, VoiceSource, read_voice_source
from domain.events import DomainEvent, new_id, stream_id
from domain.voices import (
    BASE_URL,
    CATEGORY,
    OBJECT_NAME,
    VOICE_TRANSCRIPTION,
    VoiceDeleted,
    VoiceSaved,
    VoiceTranscriptionParams,
    voice_json,
)
from eventstore.base import ANY, NO_STREAM, ExpectedVersion
from workflows.jobs import to_new_event

blueprint = Blueprint("voices", __name__)


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


async def _voice(voice_id: str) -> dict[str, Any]:
    row = await asyncio.to_thread(find_voice, _container().engine, voice_id)
    if row is None:
        raise ApiError(404, f"No saved voice {voice_id!r}.", param="voice_id")
    return row


def _append(container: Container, voice_id: str, event: DomainEvent, expected: ExpectedVersion = ANY) -> None:
    stream = stream_id(CATEGORY, voice_id)
    metadata = {"correlation_id": stream, **request_metadata()}
    container.store.append(stream, [to_new_event(CATEGORY, event, metadata=metadata)], expected)


def _delete(container: Container, voice_id: str) -> None:
    """Append the deletion (a transcription still running is cancelled first), then remove the
    media objects no other stream claims."""
    deletion.delete_record(
        container, stream_id(CATEGORY, voice_id), VoiceDeleted(), reason="the voice was deleted"
    )


# --- the collection ---------------------------------------------------------------------


@blueprint.get(BASE_URL)
async def list_voices() -> Any:
    """Saved voices, newest first, with cursor pagination (`limit` up to 500, `cursor`)."""
    return await newest_first_page(functools.partial(voices_page, _container().engine), voice_json)


@blueprint.post(BASE_URL)
@request_body(VoiceBody)
async def create_voice() -> Any:
    """Save a voice from reference audio and its transcript: JSON (`name`, `reference_audio` or
    `audio_base64` in base64, `reference_text`, `language`, `description`) or multipart (a `file`
    or `audio` part and the same fields), up to 64 MiB; or from a generated speech record
    (`source_record_id`, `source_family`: text-to-speech, voice-designs or voice-clones). Without
    `reference_text` the reference is transcribed first (default ASR model). Answers 201 with the
    ready voice."""
    container = _container()
    received = await receive_body(VoiceBody, limit=VOICE_UPLOAD_LIMIT)
    request = received.parse().request()
    source = await read_voice_source(container, request, received.upload)
    voice_id = new_id()
    if source.reference_text is not None:
        saved = VoiceSaved(
            voice_id=voice_id, reference_text=source.reference_text, **source.fields.model_dump()
        )
        await asyncio.to_thread(_append, container, voice_id, saved, NO_STREAM)
    else:
        await _transcribe(container, voice_id, source)
    response = jsonify(voice_json(await _voice(voice_id)))
    response.status_code = 201
    response.headers["Location"] = f"{BASE_URL}/{voice_id}"
    return response


async def _transcribe(container: Container, voice_id: str, source: VoiceSource) -> None:
    """Run the voice's transcription job and wait for it. A client that goes away does not stop
    it (the voice is ready once it ends); a job that fails leaves no voice behind."""
    asr = container.catalog.default("asr")
    if asr is None:
        raise ApiError(400, "No speech recognition model to transcribe the reference: send `reference_text`.")
    params = VoiceTranscriptionParams(**source.fields.model_dump(), model=asr.id)
    follower = JobFollower.for_request()
    stream = await follower.submit(VOICE_TRANSCRIPTION, params, job_id=voice_id)
    try:
        events = await follower.until_terminal(stream, cancel_on_disconnect=False)
    except JobTimeout:
        await asyncio.to_thread(_delete, container, voice_id)
        raise
    end = job_end(events[-1]) if events else None
    if end is None:
        raise shutting_down(f"voice {voice_id} is saved once its transcript is found")
    if not end.completed:
        await asyncio.to_thread(_delete, container, voice_id)
        raise end.error()


# --- one voice --------------------------------------------------------------------------


@blueprint.get(f"{BASE_URL}/<voice_id>")
async def get_voice(voice_id: str) -> Any:
    """One saved voice."""
    return voice_json(await _voice(voice_id))


@blueprint.delete(f"{BASE_URL}/<voice_id>")
async def delete_voice(voice_id: str) -> Any:
    """Delete the saved voice and its reference audio (kept while another voice or record holds
    the same bytes). Its events stay: the audit keeps that it existed, not the audio."""
    row = await _voice(voice_id)
    await asyncio.to_thread(_delete, _container(), row["id"])
    return {"id": row["id"], "object": OBJECT_NAME, "deleted": True}


@blueprint.get(f"{BASE_URL}/<voice_id>/audio")
async def voice_audio(voice_id: str) -> Response:
    """The stored reference audio, with its content type; `Range` requests are answered with 206."""
    row = await _voice(voice_id)
    return await send_media(
        _container().media,
        row["audio"],
        content_type=row["content_type"] or OCTET_STREAM,
        filename=row["filename"],
        missing=f"The audio of saved voice {voice_id!r} is no longer stored.",
    )
