"""Checking a speech request, shared by ``POST /v1/audio/speech`` and the speech history routes:
its fields, what the chosen model supports, the response format, and the voice reference (stored
as a media object), turned into the job's ``SpeechParams``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.bootstrap import Container
from app.http.uploads import decode_base64_audio
from app.routes.voices.saved_voices import saved_voice_reference
from domain.catalog import ModelVariant
from domain.speech import (
    FormatChoice,
    SpeechParams,
    SpeechRequest,
    check_model_support,
    choose_format,
    parse_speech_request,
)
from workers.engines.audio import encoder_available


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
    body: Mapping[str, Any],
    *,
    form: bool = False,
    require: Callable[[SpeechRequest], None] | None = None,
    family: str | None = None,
) -> CheckedSpeech:
    """The job ``body`` asks ``variant`` for (400 naming the field that cannot be honoured).

    ``form``: the body is a multipart form's fields. ``require`` adds a route's own checks on the
    parsed request. ``family`` makes the job a speech history record of that family.
    """
    request = parse_speech_request(body, form=form)
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
