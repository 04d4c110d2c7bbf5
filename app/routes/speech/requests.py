"""Checking a speech request, shared by ``POST /v1/audio/speech`` and the speech history routes:
its body (``SpeechBody``, ``*RecordBody``), what the chosen model supports, the response format,
and the voice reference (stored as a media object), turned into the job's ``SpeechParams``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, ClassVar

from pydantic import Field

from app.bootstrap import Container
from app.http.request_body import AUDIO_FILE_PARTS, JSON, MULTIPART, BodyModel, OneOf, one_of
from app.http.uploads import decode_base64_audio
from app.routes.voices.saved_voices import saved_voice_reference
from domain.catalog import ModelVariant
from domain.fields import Passed
from domain.speech import (
    FormatChoice,
    SpeechFields,
    SpeechParams,
    SpeechRequest,
    check_model_support,
    choose_format,
)
from domain.speech_records import TEXT_TO_SPEECH, VOICE_CLONE, VOICE_DESIGN, Family
from workers.engines.audio import encoder_available

# --- the bodies ---------------------------------------------------------------------------


class SpeechBody(BodyModel, SpeechFields):
    """The text to speak and how (OpenAI's speech request, with Sauti's voice extensions). The
    model is resolved first; the other fields are then read in the order listed."""

    requires = ("model", "input")

    model: Annotated[str | None, Passed] = Field(
        None, description="A text-to-speech model id.", examples=["eSpeak-NG"]
    )


class RecordBody(BodyModel, SpeechFields):
    """The fields of `POST /v1/audio/speech`; as JSON, or a multipart form with the reference clip as
    a `reference_audio` (or `file`/`audio`) file part. The model is chosen first."""

    encodings = (JSON, MULTIPART)
    file_parts = {
        "reference_audio": "A clip of the voice to clone (voice clones), instead of its base64.",
        **AUDIO_FILE_PARTS,
    }
    requires: ClassVar[tuple[str | OneOf, ...]] = ("input",)

    model: Annotated[str | None, Passed] = Field(
        None,
        description="A model able to serve the family; the first installed one (the family's catalog "
        "default first) when left out.",
    )


class TextToSpeechRecordBody(RecordBody):
    """Text to speak, kept as a text-to-speech record."""


class VoiceDesignRecordBody(RecordBody):
    """Text to speak in a voice designed from `instructions`, kept as a voice design record."""

    requires = ("input", "instructions")


class VoiceCloneRecordBody(RecordBody):
    """Text to speak in a cloned voice (a reference clip and its transcript, or a saved voice),
    kept as a voice clone record."""

    requires = ("input", one_of(("reference_audio", "reference_text"), "saved_voice_id"))


RECORD_BODIES: dict[str, type[RecordBody]] = {
    TEXT_TO_SPEECH: TextToSpeechRecordBody,
    VOICE_DESIGN: VoiceDesignRecordBody,
    VOICE_CLONE: VoiceCloneRecordBody,
}


def record_body(family: Family) -> type[RecordBody]:
    return RECORD_BODIES[family.name]


# --- checking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedSpeech:
    params: SpeechParams
    request: SpeechRequest
    choice: FormatChoice


async def _reference(container: Container, request: SpeechRequest) -> tuple[str | None, str | None]:
    """The voice reference (a media digest) and its transcript: the saved voice's, or the clip sent,
    stored as a media object."""
    if request.saved_voice_id is not None:
        voice = await saved_voice_reference(container, request.saved_voice_id)
        return voice.audio, voice.text
    if request.reference_audio is None:
        return None, request.reference_text
    audio = decode_base64_audio(request.reference_audio, "reference_audio")
    return await asyncio.to_thread(container.media.put, audio), request.reference_text


async def check_speech(
    container: Container,
    variant: ModelVariant,
    request: SpeechRequest,
    *,
    require: Callable[[SpeechRequest], None] | None = None,
    family: str | None = None,
) -> CheckedSpeech:
    """The job ``request`` asks ``variant`` for (400 naming the field that cannot be honoured).

    ``require`` adds a route's own checks on the request. ``family`` makes the job a speech history
    record of that family.
    """
    if require is not None:
        require(request)
    check_model_support(request, variant)
    # Asking FFmpeg for its encoders runs it once per process.
    choice = await asyncio.to_thread(
        choose_format,
        request.response_format,
        allow_fallback=request.allow_format_fallback,
        encoder_available=encoder_available,
    )
    reference_audio, reference_text = await _reference(container, request)
    params = SpeechParams(
        model=variant.id,
        input=request.input,
        voice=request.voice,
        speed=request.speed,
        language=request.language,
        temperature=request.temperature,
        top_k=request.top_k,
        max_tokens=request.max_tokens,
        reference_audio=reference_audio,
        reference_text=reference_text,
        response_format=choice.requested,
        audio_format=choice.actual,
        instructions=request.instructions,
        saved_voice_id=request.saved_voice_id,
        record=family is not None,
        family=family,
        stream=request.stream,
    )
    return CheckedSpeech(params, request, choice)
