"""Saved voices (``voice-<id>`` streams): reusable voice-clone references (docs/saved-voices.md).

Pure: the events a voice's stream holds, its transcription job's params and result, the checks on
a create request's fields, and the voice's JSON shape built from its read-model row.

A voice whose transcript was given is one ``voice.saved`` event. A voice whose transcript must be
found is a job: ``voice.requested`` (its params say everything but the transcript) … ``voice.completed``
(``{reference_text, language}``). ``voice.deleted`` ends either kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from domain import fields as read
from domain.capabilities import Capability
from domain.events import DomainEvent
from domain.fields import FieldError, choice, optional_str
from domain.jobs import VOICE_STATUSES
from domain.kinds import JobKind, RecordKind, declare
from domain.transcription import language_code

CATEGORY = "voice"
TRANSCRIBE_ACTOR = "transcribe_voice_reference"
BASE_URL = "/v1/voices"
OBJECT_NAME = "voice"

Source = Literal["upload", "record"]
UPLOAD: Source = "upload"
RECORD: Source = "record"
RECORD_FAMILIES: tuple[str, ...] = ("text-to-speech", "voice-designs", "voice-clones")
DEFAULT_RECORD_FAMILY = RECORD_FAMILIES[0]

PROCESSING = "processing"
READY = "ready"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES: tuple[str, ...] = tuple(dict.fromkeys(VOICE_STATUSES.values()))

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 2_000
MAX_REFERENCE_TEXT_CHARS = 10_000


# --- what a voice records -----------------------------------------------------------------


class VoiceFields(BaseModel):
    """Everything a voice holds but its transcript. The audio is a media digest, never the bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str | None = None
    audio: str
    content_type: str
    filename: str | None = None
    duration_secs: float
    language: str | None = None
    """An ISO 639-1 code (``en``), or None when unknown."""
    source: Source = "upload"
    source_family: str | None = None
    source_record_id: str | None = None


class VoiceTranscriptionParams(VoiceFields):
    """``voice.requested.params``: the voice, and the ASR model that finds its transcript
    (``language``, when given, is the hint it decodes with)."""

    model: str


class VoiceTranscript(BaseModel):
    """``voice.completed.result``: what the transcription job found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference_text: str
    language: str | None = None


class VoiceSaved(VoiceFields, DomainEvent):
    """A voice whose transcript came with it: saved at once, no job."""

    verb = "saved"
    voice_id: str
    reference_text: str


class VoiceDeleted(DomainEvent):
    """The voice is gone (its row, and its audio once no other stream claims it); its events stay."""

    verb = "deleted"


# --- a create request's fields ------------------------------------------------------------


@dataclass(frozen=True)
class VoiceRequest:
    """A ``POST /v1/voices`` body's fields (not its audio), checked."""

    name: str
    description: str | None
    reference_text: str | None
    language: str | None
    source_record_id: str | None
    source_family: str | None
    """Set only with ``source_record_id`` (default ``text-to-speech``)."""


NAME_REQUIRED = "`name` is required: a non-empty string naming the voice."


class VoiceRequestFields(BaseModel):
    """A create request's fields (not its audio), read in this order (JSON values or form strings);
    ``FieldError`` names the field at fault."""

    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, read.text(strip=True, max_chars=MAX_NAME_CHARS, required=NAME_REQUIRED)] = Field(
        None, validate_default=True, description="What to call the voice.", examples=["Narrator"]
    )
    source_record_id: Annotated[str | None, read.text(strip=True)] = Field(
        None,
        description="A ready speech record (of `source_family`) whose audio becomes the voice's "
        "reference, instead of an upload.",
    )
    source_family: str | None = Field(
        None,
        description="The family of `source_record_id` (default text-to-speech).",
        json_schema_extra={"enum": list(RECORD_FAMILIES)},
    )
    description: Annotated[str | None, read.text(strip=True, max_chars=MAX_DESCRIPTION_CHARS)] = Field(
        None, description="Notes about the voice."
    )
    reference_text: Annotated[str | None, read.text(strip=True, max_chars=MAX_REFERENCE_TEXT_CHARS)] = Field(
        None,
        description="The transcript of the reference audio; found by the default ASR model when left out.",
    )
    language: Annotated[str | None, read.text(strip=True)] = Field(
        None, description="The reference's language (`en`, `English`)."
    )

    @field_validator("source_family", mode="before")
    @classmethod
    def _family_goes_with_a_record(cls, value: Any, info: ValidationInfo) -> str | None:
        family = optional_str({"source_family": value}, "source_family", strip=True)
        if family is not None and info.data.get("source_record_id") is None:
            raise FieldError("`source_family` goes with `source_record_id`.", "source_family")
        return value  # checked against the families once the other fields are read

    @model_validator(mode="after")
    def _known_family(self) -> VoiceRequestFields:
        if self.source_record_id:
            self.source_family = choice(
                {"source_family": self.source_family}, "source_family", RECORD_FAMILIES, DEFAULT_RECORD_FAMILY
            )
        else:
            self.source_family = None
        return self

    def request(self) -> VoiceRequest:
        return VoiceRequest(
            name=self.name,
            description=self.description,
            reference_text=self.reference_text,
            language=language_code(self.language),
            source_record_id=self.source_record_id,
            source_family=self.source_family,
        )


def voice_request(fields: Mapping[str, Any]) -> VoiceRequest:
    """The fields of a create request (JSON values or form strings); ``FieldError`` names the
    field at fault."""
    return VoiceRequestFields.model_validate(fields).request()


# --- the voice's JSON ---------------------------------------------------------------------


def _timestamp(value: float | None) -> int | None:
    return int(value) if value is not None else None


def voice_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API's voice from its ``saved_voices`` row."""
    url = f"{BASE_URL}/{row['id']}"
    return {
        "id": row["id"],
        "object": OBJECT_NAME,
        "name": row["name"],
        "description": row["description"],
        "status": row["status"],
        "reference_text": row["reference_text"],
        "language": row["language"],
        "duration_secs": row["duration_secs"],
        "content_type": row["content_type"],
        "filename": row["filename"],
        "audio_sha256": row["audio"],
        "audio_url": f"{url}/audio",
        "source": row["source"],
        "source_family": row["source_family"],
        "source_record_id": row["source_record_id"],
        "transcription_model": row["transcription_model"],
        "error": row["error"],
        "created_at": _timestamp(row["created_at"]),
        "updated_at": _timestamp(row["updated_at"]),
    }


VOICE_TRANSCRIPTION: JobKind[VoiceTranscriptionParams] = declare(
    JobKind(
        name="voice_transcription",
        category=CATEGORY,
        actor=TRANSCRIBE_ACTOR,
        params=VoiceTranscriptionParams,
        result=VoiceTranscript,
        capability=Capability.OPENAI_AUDIO_TRANSCRIPTIONS,
        modality="text_output",
        record=RecordKind("saved_voices", VOICE_STATUSES, always=True),
    )
)
"""A saved voice whose reference transcript a worker finds (one sent with its transcript is
saved at once, with no job)."""
