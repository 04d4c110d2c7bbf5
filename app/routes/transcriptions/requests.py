"""The bodies of ``POST /v1/audio/transcriptions`` and ``POST /v1/audio/align``: a multipart form
with a ``file`` (or ``audio``) part, or JSON with ``audio_base64``; the fields read in this order."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator

from app.http.errors import ApiError
from app.http.request_body import (
    AUDIO_FILE_PARTS,
    AUDIO_REQUIRED,
    JSON,
    MULTIPART,
    BodyModel,
    audio_base64_field,
    one_of,
)
from domain import fields as read
from domain.fields import FieldError, Passed, optional_str
from domain.transcription import ALIGNMENT_FORMATS, TIMESTAMP_GRANULARITIES, TRANSCRIPT_FORMATS

GRANULARITIES_PARAM = "timestamp_granularities[]"

TranscriptFormat = Literal["json", "verbose_json", "text", "srt", "vtt"]
AlignmentFormat = Literal["json", "verbose_json", "text"]
Granularity = Literal["word", "segment"]


def _granularities(raw: object) -> list[str]:
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


class TranscriptionBody(BodyModel):
    """The audio to transcribe and how to answer (OpenAI's transcriptions request)."""

    encodings = (MULTIPART, JSON)
    file_parts = AUDIO_FILE_PARTS
    form_names = {"timestamp_granularities": GRANULARITIES_PARAM}
    requires = (AUDIO_REQUIRED,)

    response_format: Annotated[TranscriptFormat, read.one_of(TRANSCRIPT_FORMATS, "json")] = Field(
        "json", description="`json` ({text}), `verbose_json` (segments, words), `text`, `srt` or `vtt`."
    )
    timestamp_granularities: list[Granularity] = Field(
        [],
        validation_alias=AliasChoices("timestamp_granularities", GRANULARITIES_PARAM),
        description="`word`, `segment` or both (a list, or a comma-separated string); needs "
        "response_format=verbose_json, which gives segments when none is named. Also accepted as "
        "`timestamp_granularities[]`.",
    )
    max_tokens: Annotated[int | None, read.integer(1, form=True)] = Field(
        None, description="Accepted for compatibility: the Whisper engine takes no token budget."
    )
    temperature: Annotated[float | None, read.number(0.0, form=True)] = Field(
        None, description="Accepted for compatibility; ignored by the ASR engines."
    )
    stream: Annotated[bool, read.flag(form=True)] = Field(
        False,
        description="Answer with SSE `transcript.text.delta` events, then `transcript.text.done` "
        "(true, 1, yes or on in a form).",
    )
    language: Annotated[str | None, read.text()] = Field(
        None, description="A language hint (`en`, `English`); detected when left out.", examples=["en"]
    )
    prompt: Annotated[str | None, read.text()] = Field(None, description="Context for the decoder.")
    audio_base64: Annotated[str | None, Passed] = audio_base64_field()
    model: Annotated[str | None, Passed] = Field(
        None,
        description="An ASR model id; the catalog's default ASR model when left out.",
        examples=["Whisper-Tiny.en"],
    )
    aligner_model: Annotated[str | None, Passed] = Field(
        None, description="A forced-alignment model that times the words, instead of the ASR model."
    )

    @field_validator("timestamp_granularities", mode="before")
    @classmethod
    def _granularities_need_verbose_json(cls, value: object, info: ValidationInfo) -> list[str]:
        chosen = _granularities(value)
        if chosen and info.data.get("response_format") != "verbose_json":
            raise FieldError(
                "`timestamp_granularities[]` requires response_format=verbose_json.", GRANULARITIES_PARAM
            )
        return chosen


REQUIRED_TEXT = "`text` (or `reference_text`) is required: the words spoken in the audio."


class AlignmentBody(BodyModel):
    """The audio and the words spoken in it, to time each word (forced alignment)."""

    encodings = (MULTIPART, JSON)
    file_parts = AUDIO_FILE_PARTS
    requires = (one_of("text", "reference_text"), AUDIO_REQUIRED)

    response_format: Annotated[AlignmentFormat, read.one_of(ALIGNMENT_FORMATS, "json")] = Field(
        "json", description="`json` (words and duration), `verbose_json` (and the run's details) or `text`."
    )
    text: Annotated[str | None, read.text()] = Field(
        None, description="The words spoken in the audio.", examples=["And so my fellow Americans"]
    )
    reference_text: str | None = Field(
        None, validate_default=True, description="The words spoken in the audio, when `text` is not sent."
    )
    language: Annotated[str | None, read.text()] = Field(
        None, description="A language hint.", examples=["en"]
    )
    audio_base64: Annotated[str | None, Passed] = audio_base64_field()
    model: Annotated[str | None, Passed] = Field(
        None,
        description="A forced-alignment model id; the catalog's default aligner when left out.",
        examples=["PocketSphinx-en-us"],
    )

    @field_validator("reference_text", mode="before")
    @classmethod
    def _text_is_required(cls, value: Any, info: ValidationInfo) -> str | None:
        """``reference_text`` is read only when ``text`` is empty; one of them must say something."""
        given = info.data.get("text")
        chosen = given or optional_str({"reference_text": value}, "reference_text")
        if chosen is None or not chosen.strip():
            raise ApiError(400, REQUIRED_TEXT, param="text")
        return None if given else chosen

    @property
    def spoken_text(self) -> str:
        return self.text or self.reference_text or ""
