"""Speech-to-text records' request bodies (create, edit, summary) and creating a record: the
request's fields and audio, checked, turned into the job's params
(docs/speech-to-text-records.md). The route stores the audio and submits the job."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.model_choice import resolve_model
from app.http.request_body import (
    AUDIO_FILE_PARTS,
    AUDIO_REQUIRED,
    JSON,
    MULTIPART,
    BodyModel,
    Received,
    audio_base64_field,
    one_of,
)
from app.http.uploads import audio_content_type, require_audio
from domain import fields as read
from domain.diarization import DIARIZATION as DIARIZATION_KIND
from domain.diarization import DiarizationParams
from domain.fields import FALSE_WORDS, FieldError, Passed, optional_str
from domain.stt_records import DIARIZATION, MAX_TITLE_CHARS, SAA
from domain.transcription import ALIGNMENT, TRANSCRIPTION, TranscriptionParams

# What speaker-attributed ASR cannot do: its words are timed by the ASR model, turn by turn.
SAA_REFUSED = ("stream", "include_timestamps", "timestamp_granularities", "aligner_model")


@dataclass(frozen=True)
class RecordRequest:
    params: TranscriptionParams | DiarizationParams
    stream: bool
    """Answer with the job's events (SSE) until it ends, instead of the record."""


JobKindName = Literal["transcription", "speaker_attributed_asr", "saa", "diarization"]


class JobBody(BodyModel):
    """A recording to transcribe or diarize, kept as a record: a multipart form with a `file` (or
    `audio`) part, or JSON with `audio_base64`. `job_kind` (also a query parameter, which wins)
    picks the job; the fields are read in the order listed."""

    encodings = (MULTIPART, JSON)
    file_parts = AUDIO_FILE_PARTS
    requires = (AUDIO_REQUIRED,)

    job_kind: Annotated[JobKindName | None, Passed] = Field(
        None,
        description="transcription (the default of /v1/speech-to-text/jobs), speaker_attributed_asr "
        "(or saa), or diarization (the only kind /v1/diarizations creates).",
    )
    title: Annotated[str | None, read.text(strip=True, max_chars=MAX_TITLE_CHARS)] = Field(
        None, description="A title for the record."
    )
    min_speakers: Annotated[int | None, read.integer(1, form=True)] = Field(
        None, description="The fewest speakers to find (diarization, speaker attribution)."
    )
    max_speakers: Annotated[int | None, read.integer(1, form=True)] = Field(
        None, description="The most speakers to find, at least `min_speakers`."
    )
    model_id: Annotated[str | None, Passed] = Field(None, description="The model; wins over `model`.")
    model: Annotated[str | None, Passed] = Field(
        None,
        description="The ASR model (the diarizer for diarization); the catalog default when left out.",
        examples=["Whisper-Tiny.en"],
    )
    language: Annotated[str | None, read.text(strip=True)] = Field(None, description="A language hint.")
    generate_summary: Annotated[bool, read.flag(form=True)] = Field(
        False, description="Summarize the transcript with the default chat model once the job is done."
    )
    stream: Annotated[bool, read.flag(form=True)] = Field(
        False, description="Answer with the job's events (SSE) until it ends, instead of the record."
    )
    prompt: str | None = Field(
        None, validate_default=True, description="Context for the ASR decoder (not for diarization)."
    )
    content_type: Annotated[str | None, read.text(strip=True)] = Field(
        None, description="The audio's media type, when its bytes do not say."
    )
    filename: Annotated[str | None, read.text(strip=True)] = Field(
        None, description="The audio's file name, when no file part names it."
    )
    aligner_model: Annotated[str | None, Passed] = Field(
        None, description="A forced-alignment model that times the words (transcription only)."
    )
    diarization_model: Annotated[str | None, Passed] = Field(
        None, description="The diarizer of speaker-attributed ASR; the catalog default when left out."
    )
    audio_base64: Annotated[str | None, Passed] = audio_base64_field()

    @field_validator("max_speakers", mode="after")
    @classmethod
    def _at_least_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_speakers")
        if low is not None and value is not None and low > value:
            raise FieldError("`max_speakers` must be at least `min_speakers`.", "max_speakers")
        return value

    @field_validator("prompt", mode="before")
    @classmethod
    def _prompt(cls, value: Any, info: ValidationInfo) -> str | None:
        """Read after what speaker-attributed ASR refuses (``kind``, ``raw``: the validation context)."""
        context = info.context or {}
        if context.get("kind") == SAA:
            refuse_saa_options(context.get("raw") or {})
        return optional_str({"prompt": value}, "prompt", strip=True)

    def model_choice(self) -> tuple[str, object]:
        return model_field({"model_id": self.model_id, "model": self.model})


class DiarizationJobBody(JobBody):
    """A recording to diarize, kept as a diarization record: a multipart form with a `file` (or
    `audio`) part, or JSON with `audio_base64`; the fields are read in the order listed."""

    job_kind: Annotated[Literal["diarization"] | None, Passed] = Field(
        None, description="Only diarization (the default)."
    )


def _not_null(schema: dict[str, Any]) -> None:
    """Optional, but not nullable: a null is refused."""
    schema.pop("default", None)
    branches = [branch for branch in schema.pop("anyOf", ()) if branch.get("type") != "null"]
    if branches:
        schema.update(branches[0])


class EditBody(BodyModel):
    """The fields to change (only those sent change). Which can be edited depends on the record's
    kind: title and summary always, `text` on transcripts, `speaker_labels` where there are
    speakers; any other field is refused."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})
    requires = (one_of("title", "text", "speaker_labels", "summary"),)

    title: Annotated[str | None, Passed] = Field(
        None, description="A new title (null removes it).", examples=["Standup"]
    )
    text: Annotated[str | None, Passed] = Field(
        None, description="A corrected transcript.", json_schema_extra=_not_null
    )
    speaker_labels: Annotated[dict[str, str | None] | None, Passed] = Field(
        None,
        json_schema_extra=_not_null,
        description='Names for speakers (`{"SPEAKER_00": "Alice"}`); null removes a name.',
        examples=[{"SPEAKER_00": "Alice"}],
    )
    summary: Annotated[str | None, Passed] = Field(None, description="A new summary (null clears it).")


class SummaryBody(BodyModel):
    """Which chat model writes the summary (the default chat model when the body is left out)."""

    optional = True

    model_id: Annotated[str | None, Passed] = Field(None, description="The chat model; wins over `model`.")
    model: Annotated[str | None, Passed] = Field(
        None, description="The chat model.", examples=["SmolLM2-135M-Instruct-GGUF"]
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


async def _models(container: Container, kind: str, fields: JobBody) -> _Models:
    model_param, model = fields.model_choice()
    if kind == DIARIZATION:
        diarizer = await resolve_model(
            container,
            model,
            DIARIZATION_KIND.capability,
            default_for="diarization",
            what="diarization",
            param=model_param,
        )
        return _Models(diarizer.id)
    asr = await resolve_model(
        container,
        model,
        TRANSCRIPTION.required_capability(record=True),
        default_for="asr",
        what="speech-to-text jobs",
        param=model_param,
    )
    if "text_output" not in asr.modalities:
        raise ApiError(
            400,
            f"Model {asr.id} is not a speech recognition model: name an ASR model, "
            "or use job_kind=diarization.",
            param=model_param,
        )
    if kind == SAA:
        diarizer = await resolve_model(
            container,
            fields.diarization_model,
            DIARIZATION_KIND.capability,
            default_for="diarization",
            what="speaker attribution",
            param="diarization_model",
        )
        return _Models(asr.id, diarizer=diarizer.id)
    if _given(fields.aligner_model):
        aligner = await resolve_model(
            container,
            fields.aligner_model,
            ALIGNMENT.capability,
            what="forced alignment",
            param="aligner_model",
        )
        return _Models(asr.id, aligner=aligner.id)
    return _Models(asr.id)


async def read_record_request(container: Container, kind: str, received: Received[JobBody]) -> RecordRequest:
    """The job a create request asks for (400 for any field that cannot be honoured); the audio
    is stored once every field has been accepted."""
    fields = received.parse(kind=kind)
    form = received.upload
    declared = fields.content_type or form.content_type
    filename = form.filename or fields.filename
    audio = require_audio(form)
    models = await _models(container, kind, fields)
    shared: dict[str, Any] = {
        "audio": await asyncio.to_thread(container.media.put, audio),
        "model": models.model,
        "record": True,
        "job_kind": kind,
        "title": fields.title,
        "filename": filename,
        "content_type": audio_content_type(audio, declared, filename),
        "generate_summary": fields.generate_summary,
    }
    params: TranscriptionParams | DiarizationParams
    if kind == DIARIZATION:
        params = DiarizationParams(
            **shared, min_speakers=fields.min_speakers, max_speakers=fields.max_speakers
        )
    else:
        speakers = kind == SAA
        params = TranscriptionParams(
            **shared,
            language=fields.language,
            prompt=fields.prompt,
            word_timestamps=True,
            aligner_model=models.aligner,
            min_speakers=fields.min_speakers if speakers else None,
            max_speakers=fields.max_speakers if speakers else None,
            diarization_model=models.diarizer,
        )
    return RecordRequest(params=params, stream=fields.stream)
