"""Diarization jobs (``diarization-<record id>`` streams): who spoke when.

See docs/speech-to-text-records.md for the whole event contract of speech-to-text records.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.capabilities import Capability
from domain.events import DomainEvent
from domain.jobs import RECORD_STATUSES
from domain.kinds import JobKind, RecordKind, declare

CATEGORY = "diarization"
ACTOR = "diarize_audio"


class DiarizationParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    audio: str
    """The source audio's media digest."""
    model: str
    """A diarization model (``diarization_records`` capability)."""
    min_speakers: int | None = None
    max_speakers: int | None = None
    record: bool = True
    job_kind: Literal["diarization"] = "diarization"
    title: str | None = None
    filename: str | None = None
    content_type: str | None = None
    generate_summary: bool = False


class SpeakerTurnData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    speaker: str
    start: float
    end: float
    text: str | None = None
    """Speaker-attributed ASR only: what the speaker said in this turn."""


class SpeechDetected(DomainEvent):
    verb = "speech_detected"
    duration: float
    speech_seconds: float
    span_count: int


class SpeakersFound(DomainEvent):
    verb = "speakers_found"
    speakers: list[str]
    turns: list[SpeakerTurnData]


class SpeakersAttributed(DomainEvent):
    """Speaker-attributed ASR: diarization turns merged with the transcript's words."""

    verb = "speakers_attributed"
    speakers: list[str]
    turns: list[SpeakerTurnData]


DIARIZATION: JobKind[DiarizationParams] = declare(
    JobKind(
        name="diarization",
        category=CATEGORY,
        actor=ACTOR,
        params=DiarizationParams,
        capability=Capability.DIARIZATION_RECORDS,
        record=RecordKind("stt_records", RECORD_STATUSES),
    )
)
