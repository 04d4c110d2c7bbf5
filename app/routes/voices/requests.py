"""Creating a saved voice: the request's fields and reference audio, checked and stored, turned into
what the voice records (docs/saved-voices.md). The route appends the voice or submits its job.

The reference comes from an upload (JSON ``reference_audio`` / ``audio_base64``, or a multipart
``file`` / ``audio`` part) or from a generated speech record (``source_record_id``). An upload is
stored, then decoded by a worker (an ``audio_check`` job: the web process never runs FFmpeg):
audio that cannot be decoded is a 400, its bytes claimed by no stream (the media sweep collects
them), and the decoded length is the voice's duration.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.job_follow import JobFollower
from app.http.request_body import (
    AUDIO_BASE64,
    AUDIO_FILE_PARTS,
    BASE64_AUDIO,
    EXAMPLE_AUDIO_BASE64,
    JSON,
    MULTIPART,
    BodyModel,
    audio_base64_field,
    one_of,
)
from app.http.uploads import RECORD_UPLOAD_LIMIT, AudioForm, audio_content_type, decode_base64_audio
from app.projections.speech_record_queries import find_record
from domain.audio_checks import AUDIO_CHECK, AudioCheckParams, AudioCheckResult
from domain.fields import Passed, optional_str
from domain.speech_records import TEXT_TO_SPEECH, VOICE_CLONE, VOICE_DESIGN
from domain.voices import RECORD, UPLOAD, VoiceFields, VoiceRequest, VoiceRequestFields

VOICE_UPLOAD_LIMIT = RECORD_UPLOAD_LIMIT
"""The first-party upload limit (64 MiB)."""
WAV = "audio/wav"
# The speech history families a voice may come from, and their records' ``family``.
RECORD_FAMILY_NAMES = {
    "text-to-speech": TEXT_TO_SPEECH,
    "voice-designs": VOICE_DESIGN,
    "voice-clones": VOICE_CLONE,
}


class VoiceBody(BodyModel, VoiceRequestFields):
    """A voice to save: its name and a reference clip (a file part, or base64 in `reference_audio`
    or `audio_base64`), or a generated speech record (`source_record_id`). The fields are read in
    the order listed; the reference, its `content_type` and `filename` after them."""

    encodings = (JSON, MULTIPART)
    file_parts = AUDIO_FILE_PARTS
    requires = ("name", one_of("file", "audio", "reference_audio", "audio_base64", "source_record_id"))

    reference_audio: Annotated[str | None, Passed] = Field(
        None,
        description=AUDIO_BASE64 + " The contract's name for the clip.",
        examples=[EXAMPLE_AUDIO_BASE64],
        json_schema_extra=BASE64_AUDIO,
    )
    audio_base64: Annotated[str | None, Passed] = audio_base64_field()
    content_type: Annotated[str | None, Passed] = Field(
        None, description="The clip's media type, when its bytes do not say (`audio/wav`)."
    )
    filename: Annotated[str | None, Passed] = Field(
        None, description="The clip's file name, when no file part names it."
    )


@dataclass(frozen=True)
class VoiceSource:
    """A new voice: what it records (its audio stored), and its transcript when one is known."""

    fields: VoiceFields
    reference_text: str | None


def _uploaded(form: AudioForm) -> tuple[bytes | None, str]:
    """The uploaded reference and the field that carried it (``reference_audio`` is the contract's
    name for the base64 clip; ``audio_base64`` and the file parts are the uploads' usual ones)."""
    encoded = form.fields.get("reference_audio")
    if encoded is None:
        return form.audio, "file" if form.filename is not None else "audio_base64"
    if form.audio is not None:
        raise ApiError(
            400, "Send the reference audio once: `reference_audio` or a file.", param="reference_audio"
        )
    # Within the upload limit: the whole body was.
    return decode_base64_audio(encoded, "reference_audio"), "reference_audio"


async def checked_seconds(container: Container, digest: str, param: str) -> float:
    """How long the stored clip plays, decoded by a worker; a 400 naming ``param`` when it is not
    audio FFmpeg can decode."""
    follower = JobFollower.for_request()
    stream_id = await follower.submit(AUDIO_CHECK, AudioCheckParams(media_digest=digest, field=param))
    result, _ = await follower.result(stream_id)
    return AudioCheckResult.model_validate(result).duration_secs


async def _from_upload(container: Container, request: VoiceRequest, form: AudioForm) -> VoiceSource:
    audio, param = _uploaded(form)
    if not audio:
        raise ApiError(
            400,
            "No reference audio: send `reference_audio` (base64), a `file` part, or `source_record_id`.",
            param="reference_audio",
        )
    digest = await asyncio.to_thread(container.media.put, audio)
    duration = await checked_seconds(container, digest, param)
    declared = optional_str(form.fields, "content_type", strip=True) or form.content_type
    filename = form.filename or optional_str(form.fields, "filename", strip=True)
    fields = VoiceFields(
        name=request.name,
        description=request.description,
        audio=digest,
        content_type=audio_content_type(audio, declared, filename),
        filename=filename,
        duration_secs=duration,
        language=request.language,
        source=UPLOAD,
    )
    return VoiceSource(fields, request.reference_text)


async def _from_record(container: Container, request: VoiceRequest) -> VoiceSource:
    record_id, family = request.source_record_id, request.source_family
    assert record_id is not None and family is not None
    record = await asyncio.to_thread(find_record, container.engine, record_id, RECORD_FAMILY_NAMES[family])
    if record is None:
        raise ApiError(404, f"No {family} record {record_id!r}.", param="source_record_id")
    if record["status"] != "ready" or not record["audio"]:
        raise ApiError(
            400,
            f"The {family} record {record_id!r} is {record['status']}: a voice needs its finished audio.",
            param="source_record_id",
        )
    fields = VoiceFields(
        name=request.name,
        description=request.description,
        audio=record["audio"],
        content_type=WAV,
        duration_secs=float(record["duration_secs"] or 0.0),
        language=request.language or record["language"],
        source=RECORD,
        source_family=family,
        source_record_id=record_id,
    )
    # What the record says is what its audio speaks, unless the client says otherwise.
    return VoiceSource(fields, request.reference_text or record["input"])


async def read_voice_source(container: Container, request: VoiceRequest, form: AudioForm) -> VoiceSource:
    """The new voice a create request describes (400/404/413 for what cannot be honoured)."""
    if request.source_record_id is None:
        return await _from_upload(container, request, form)
    if form.audio is not None or form.fields.get("reference_audio") is not None:
        raise ApiError(
            400,
            "Send either reference audio or `source_record_id`, not both.",
            param="source_record_id",
        )
    return await _from_record(container, request)
