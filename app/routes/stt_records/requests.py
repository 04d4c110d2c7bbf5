"""Creating a speech-to-text record: the request's fields and audio, checked, turned into the job's
params (docs/speech-to-text-records.md). The route stores the audio and submits the job."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.model_choice import resolve_model
from app.http.uploads import AudioForm, audio_content_type, require_audio
from domain.diarization import DIARIZATION as DIARIZATION_KIND
from domain.diarization import DiarizationParams
from domain.fields import FALSE_WORDS, FieldError, optional_bool, optional_int, optional_str
from domain.stt_records import DIARIZATION, MAX_TITLE_CHARS, SAA
from domain.transcription import ALIGNMENT, TRANSCRIPTION, TranscriptionParams

# What speaker-attributed ASR cannot do: its words are timed by the ASR model, turn by turn.
SAA_REFUSED = ("stream", "include_timestamps", "timestamp_granularities", "aligner_model")


@dataclass(frozen=True)
class RecordRequest:
    params: TranscriptionParams | DiarizationParams
    stream: bool
    """Answer with the job's events (SSE) until it ends, instead of the record."""


@dataclass(frozen=True)
class _CommonFields:
    title: str | None
    language: str | None
    generate_summary: bool
    min_speakers: int | None
    max_speakers: int | None
    stream: bool
    model: object
    model_param: str

    @classmethod
    def read(cls, fields: Mapping[str, Any]) -> _CommonFields:
        title = optional_str(fields, "title", strip=True)
        if title is not None and len(title) > MAX_TITLE_CHARS:
            raise FieldError(f"`title` must be at most {MAX_TITLE_CHARS} characters.", "title")
        min_speakers = optional_int(fields, "min_speakers", 1, form=True)
        max_speakers = optional_int(fields, "max_speakers", 1, form=True)
        if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
            raise FieldError("`max_speakers` must be at least `min_speakers`.", "max_speakers")
        model_param, model = model_field(fields)
        return cls(
            title=title,
            language=optional_str(fields, "language", strip=True),
            generate_summary=bool(optional_bool(fields, "generate_summary", form=True)),
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            stream=bool(optional_bool(fields, "stream", form=True)),
            model=model,
            model_param=model_param,
        )


def model_field(fields: Mapping[str, Any]) -> tuple[str, object]:
    """Which field names the model (``model_id`` or ``model``), and its value."""
    name = "model_id" if fields.get("model_id") not in (None, "") else "model"
    return name, fields.get(name)


def _given(value: object) -> bool:
    """Whether a field asks for something (a form's blank or false is no request)."""
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return value not in (None, False, [], {})


def refuse_saa_options(fields: Mapping[str, Any]) -> None:
    for name in SAA_REFUSED:
        if _given(fields.get(name)):
            raise FieldError(
                f"`{name}` is not supported for speaker_attributed_asr: its word times come from the "
                "ASR model and the transcript is delivered by turns. Follow GET …/events for progress.",
                name,
            )


@dataclass(frozen=True)
class _Models:
    model: str
    aligner: str | None = None
    diarizer: str | None = None


async def _models(
    container: Container, kind: str, fields: Mapping[str, Any], common: _CommonFields
) -> _Models:
    if kind == DIARIZATION:
        diarizer = await resolve_model(
            container,
            common.model,
            DIARIZATION_KIND.capability,
            default_for="diarization",
            what="diarization",
            param=common.model_param,
        )
        return _Models(diarizer.id)
    asr = await resolve_model(
        container,
        common.model,
        TRANSCRIPTION.required_capability(record=True),
        default_for="asr",
        what="speech-to-text jobs",
        param=common.model_param,
    )
    if "text_output" not in asr.modalities:
        raise ApiError(
            400,
            f"Model {asr.id} is not a speech recognition model: name an ASR model, "
            "or use job_kind=diarization.",
            param=common.model_param,
        )
    if kind == SAA:
        diarizer = await resolve_model(
            container,
            fields.get("diarization_model"),
            DIARIZATION_KIND.capability,
            default_for="diarization",
            what="speaker attribution",
            param="diarization_model",
        )
        return _Models(asr.id, diarizer=diarizer.id)
    if _given(fields.get("aligner_model")):
        aligner = await resolve_model(
            container,
            fields["aligner_model"],
            ALIGNMENT.capability,
            what="forced alignment",
            param="aligner_model",
        )
        return _Models(asr.id, aligner=aligner.id)
    return _Models(asr.id)


async def read_record_request(container: Container, kind: str, form: AudioForm) -> RecordRequest:
    """The job a create request asks for (400 for any field that cannot be honoured); the audio
    is stored once every field has been accepted."""
    fields = form.fields
    common = _CommonFields.read(fields)
    if kind == SAA:
        refuse_saa_options(fields)
    prompt = optional_str(fields, "prompt", strip=True)
    declared = optional_str(fields, "content_type", strip=True) or form.content_type
    filename = form.filename or optional_str(fields, "filename", strip=True)
    audio = require_audio(form)
    models = await _models(container, kind, fields, common)
    shared: dict[str, Any] = {
        "audio": await asyncio.to_thread(container.media.put, audio),
        "model": models.model,
        "record": True,
        "job_kind": kind,
        "title": common.title,
        "filename": filename,
        "content_type": audio_content_type(audio, declared, filename),
        "generate_summary": common.generate_summary,
    }
    params: TranscriptionParams | DiarizationParams
    if kind == DIARIZATION:
        params = DiarizationParams(
            **shared, min_speakers=common.min_speakers, max_speakers=common.max_speakers
        )
    else:
        speakers = kind == SAA
        params = TranscriptionParams(
            **shared,
            language=common.language,
            prompt=prompt,
            word_timestamps=True,
            aligner_model=models.aligner,
            min_speakers=common.min_speakers if speakers else None,
            max_speakers=common.max_speakers if speakers else None,
            diarization_model=models.diarizer,
        )
    return RecordRequest(params=params, stream=common.stream)
