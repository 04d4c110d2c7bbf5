"""Persisted speech-to-text records (docs/speech-to-text-records.md): the job kinds, the events the
HTTP routes append, the checks on an edit, and the record's JSON shape built from its read-model row.

Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from domain import diarization, transcription
from domain.events import DomainEvent
from domain.fields import FieldError, optional_str
from domain.jobs import RECORD_STATUSES
from domain.kinds import JobKind

TRANSCRIPTION = "transcription"
SAA = "speaker_attributed_asr"
DIARIZATION = "diarization"
JOB_KINDS: tuple[str, ...] = (TRANSCRIPTION, SAA, DIARIZATION)
KIND_ALIASES = {"saa": SAA}
ALL_KINDS = "all"

PROCESSING_STATUSES: tuple[str, ...] = tuple(dict.fromkeys(RECORD_STATUSES.values()))
SUMMARY_STATUSES: tuple[str, ...] = ("none", "pending", "generating", "ready", "failed")

# What an edit may change, by kind: a diarization has no transcript, a plain transcript no speakers.
EDITABLE: dict[str, tuple[str, ...]] = {
    TRANSCRIPTION: ("title", "text", "summary"),
    SAA: ("title", "text", "speaker_labels", "summary"),
    DIARIZATION: ("title", "speaker_labels", "summary"),
}
MAX_TITLE_CHARS = 500
MAX_LABEL_CHARS = 100

# A transcription's progress: its segment ends measure it, short of 100 % (completing the job is
# 100). Speaker-attributed ASR diarizes first, its steps ending at these percents; its segments
# then take it on from the last of them. The worker reports a progress event each time a segment
# passes the next ``PROGRESS_MILESTONE``, so that every job view sees the bar move.
SAA_STEP_PERCENTS = {"speech": 10.0, "embeddings": 22.0, "clustering": 25.0}
SEGMENT_PROGRESS_CAP = 99.0
PROGRESS_MILESTONE = 5


def segment_progress(kind: str, end: float, duration: float) -> float:
    """The progress of a transcription whose last decoded segment ends at ``end`` s."""
    base = SAA_STEP_PERCENTS["clustering"] if kind == SAA else 0.0
    if duration <= 0:
        return base
    return min(SEGMENT_PROGRESS_CAP, base + (100.0 - base) * min(1.0, end / duration))


def progress_milestone(percent: float) -> int:
    """The last milestone ``percent`` has reached (0, 5, 10 … 95)."""
    return int(percent // PROGRESS_MILESTONE) * PROGRESS_MILESTONE


# --- job kinds --------------------------------------------------------------------------


def job_kind(value: object, *, allow_all: bool, param: str = "job_kind") -> str | None:
    """The canonical kind for a request's ``job_kind`` (``saa`` is speaker_attributed_asr).

    None when absent or ``all`` (where ``allow_all``): every kind.
    """
    text = optional_str({param: value}, param, strip=True)
    if text is None or (allow_all and text == ALL_KINDS):
        return None
    kind = KIND_ALIASES.get(text, text)
    if kind not in JOB_KINDS:
        allowed = [*JOB_KINDS, *KIND_ALIASES, *([ALL_KINDS] if allow_all else [])]
        raise FieldError(f"Unsupported job_kind {text!r}: use one of {', '.join(allowed)}.", param)
    return kind


def job_of(kind: str) -> JobKind[Any]:
    """The job that makes a record of this kind: speaker-attributed ASR is a transcription job."""
    return diarization.DIARIZATION if kind == DIARIZATION else transcription.TRANSCRIPTION


# --- events the routes append -----------------------------------------------------------


class RecordUpdated(DomainEvent):
    """An edit: only the fields given are recorded. A label of None removes that label; a summary
    of None clears the summary."""

    verb = "record_updated"
    title: str | None = None
    text: str | None = None
    speaker_labels: dict[str, str | None] | None = None
    summary: str | None = None

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


RECORD_DELETED_REASON = "the record was deleted"
"""Why a deleted record's job was cancelled."""


class RecordDeleted(DomainEvent):
    """The record is gone (its row and its audio); its events stay for the audit."""

    verb = "record_deleted"


def record_update(body: Mapping[str, Any], kind: str, speakers: Sequence[str]) -> RecordUpdated:
    """The edit a PATCH/PUT body asks for, checked against what this kind of record lets change."""
    editable = EDITABLE[kind]
    for name in body:
        if name not in editable:
            raise FieldError(
                f"`{name}` cannot be edited on a {kind} record: editable fields are {', '.join(editable)}.",
                name,
            )
    if not body:
        raise FieldError(f"Nothing to update: send one of {', '.join(editable)}.", editable[0])
    changes: dict[str, Any] = {}
    if "title" in body:
        title = optional_str(body, "title", strip=True)
        if title is not None and len(title) > MAX_TITLE_CHARS:
            raise FieldError(f"`title` must be at most {MAX_TITLE_CHARS} characters.", "title")
        changes["title"] = title
    if "text" in body:
        text = optional_str(body, "text")
        if text is None:
            raise FieldError("`text` must be a string.", "text")
        changes["text"] = text
    if "speaker_labels" in body:
        changes["speaker_labels"] = _speaker_labels(body["speaker_labels"], speakers)
    if "summary" in body:
        changes["summary"] = optional_str(body, "summary")
    return RecordUpdated(**changes)


def _speaker_labels(value: object, speakers: Sequence[str]) -> dict[str, str | None]:
    if not isinstance(value, Mapping):
        raise FieldError(
            '`speaker_labels` must be an object such as {"SPEAKER_00": "Alice"}.', "speaker_labels"
        )
    labels: dict[str, str | None] = {}
    for speaker, label in value.items():
        if speaker not in speakers:
            known = ", ".join(speakers) or "none yet"
            raise FieldError(
                f"Unknown speaker {speaker!r}: this record's speakers are {known}.", "speaker_labels"
            )
        if label is not None and not isinstance(label, str):
            raise FieldError("Each speaker label must be a string (or null to remove it).", "speaker_labels")
        text = label.strip() if label is not None else ""
        if len(text) > MAX_LABEL_CHARS:
            raise FieldError(
                f"A speaker label must be at most {MAX_LABEL_CHARS} characters.", "speaker_labels"
            )
        labels[speaker] = text or None
    return labels


def merge_labels(labels: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """The labels after an edit: a label of None removes that speaker's label."""
    merged = dict(labels)
    for speaker, label in changes.items():
        if label is None:
            merged.pop(speaker, None)
        else:
            merged[speaker] = label
    return dict(sorted(merged.items()))


# --- the record's JSON ------------------------------------------------------------------


def _timestamp(value: float | None) -> int | None:
    return int(value) if value is not None else None


def _loads(row: Mapping[str, Any], column: str, empty: Any) -> Any:
    raw = row.get(column)
    return json.loads(raw) if raw else empty


def _speaker_view(speaker: str | None, labels: Mapping[str, str]) -> dict[str, str | None]:
    return {"speaker": labels.get(speaker, speaker) if speaker else None, "speaker_id": speaker}


def record_json(
    row: Mapping[str, Any], *, object_name: str, base_url: str, full: bool = True
) -> dict[str, Any]:
    """The API's record from its ``stt_records`` row (JSON columns still encoded).

    Speaker labels are applied to turns and segments (``speaker``), keeping the original id
    (``speaker_id``). ``full=False`` leaves out the segments and turns (list pages).
    """
    kind = row["job_kind"]
    labels: dict[str, str] = _loads(row, "speaker_labels", {})
    speakers: list[str] = _loads(row, "speakers", [])
    result: dict[str, Any] = _loads(row, "result", {})
    url = f"{base_url}/{row['id']}"
    record: dict[str, Any] = {
        "id": row["id"],
        "object": object_name,
        "job_kind": kind,
        "processing_status": row["processing_status"],
        "progress": round(float(row["progress"]), 1),
        "stage": row["stage"],
        "run": row["run"],
        "created_at": _timestamp(row["created_at"]),
        "updated_at": _timestamp(row["updated_at"]),
        "completed_at": _timestamp(row["completed_at"]),
        "title": row["title"],
        "filename": row["filename"],
        "content_type": row["content_type"],
        "audio_sha256": row["audio"],
        "audio_url": f"{url}/audio",
        "events_url": f"{url}/events",
        "duration": row["duration"],
        "language": row["language"],
        "model": row["model"],
        "diarization_model": row["diarization_model"],
        "min_speakers": row["min_speakers"],
        "max_speakers": row["max_speakers"],
        "generate_summary": bool(row["generate_summary"]),
        "text": row["text"] if kind != DIARIZATION else None,
        "speakers": speakers,
        "speaker_labels": labels,
        "speaker_count": len(speakers),
        "summary": row["summary"],
        "summary_status": row["summary_status"],
        "summary_model": row["summary_model"],
        "summary_error": row["summary_error"],
        "error": row["error"],
        "processing_time_ms": result.get("processing_time_ms"),
        "rtf": result.get("rtf"),
    }
    if full:
        turns: list[dict[str, Any]] = _loads(row, "speaker_turns", [])
        record["speaker_turns"] = [{**turn, **_speaker_view(turn["speaker"], labels)} for turn in turns]
        segments: list[dict[str, Any]] = _loads(row, "segments", [])
        if kind == SAA:
            segments = [{**s, **_speaker_view(s.get("speaker"), labels)} for s in segments]
        record["segments"] = segments if kind != DIARIZATION else []
    return record
