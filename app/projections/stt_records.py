"""The ``stt_records`` read model: one row per persisted speech-to-text record, folded from its
stream's events (docs/speech-to-text-records.md).

Only streams requested with ``record: true`` have a row (the OpenAI route's transcriptions are
``transcription-`` streams too). A rerun starts the results over and keeps what the user set
(title, speaker labels); ``record_deleted`` drops the row.

A segment is one row of ``stt_record_segments`` (a redelivered one is not inserted again), and
the record's ``text`` is not rewritten for it: appending the 2,000th costs what the first did. The
text is stored when an event sets it (the job's end, an edit), with ``text_through``, the highest
segment id it holds; reading the record adds the later segments (``stt_record_queries``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Connection, Table, delete, insert, select, update

from app.projections.records import Creator, RecordProjection, Row
from app.projections.stt_record_queries import last_segment_id_in, transcript_in
from app.projections.tables import stt_record_segments, stt_records
from domain import diarization, summaries, transcription
from domain.diarization import DiarizationParams, SpeakersAttributed, SpeakersFound, SpeechDetected
from domain.events import DomainEvent
from domain.jobs import (
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobProgressed,
    JobRequested,
    lifecycle_event,
)
from domain.stt_records import DIARIZATION, RecordDeleted, RecordUpdated, merge_labels, segment_progress
from domain.transcription import LanguageDetected, SegmentTranscribed, TranscriptionParams
from eventstore.base import RecordedEvent, dumps

_LIGHT_COLUMNS = (
    "stream_id",
    "job_kind",
    "progress",
    "duration",
    "language",
    "speaker_labels",
    "summary_id",
    "summary_status",
)
# Large columns are read only for the events that change them.
_TEXT = ("text", "text_through")
_HEAVY_COLUMNS: dict[str, tuple[str, ...]] = {
    JobCompleted.verb: _TEXT,
    JobFailed.verb: _TEXT,
    JobCancelled.verb: _TEXT,
    summaries.SummaryGenerated.verb: ("summary",),
}

_SPEAKER_EVENTS: dict[str, type[SpeakersFound | SpeakersAttributed]] = {
    SpeakersFound.verb: SpeakersFound,
    SpeakersAttributed.verb: SpeakersAttributed,
}


class SttRecordsProjection(RecordProjection):
    name = "stt_records"
    table = stt_records
    kinds = (transcription.TRANSCRIPTION, diarization.DIARIZATION)
    status_column = "processing_status"
    deleted_verb = RecordDeleted.verb

    @property
    def tables(self) -> list[Table]:
        return [stt_records, stt_record_segments]

    @property
    def creators(self) -> Mapping[str, Creator]:
        return {JobRequested.verb: _requested}

    def columns(self, verb: str) -> Sequence[Column[Any]]:
        return [stt_records.c[name] for name in (*_LIGHT_COLUMNS, *_HEAVY_COLUMNS.get(verb, ()))]

    def changes(self, connection: Connection, row: Row, verb: str, event: RecordedEvent) -> dict[str, Any]:
        lifecycle = lifecycle_event(event.type, event.data)
        if lifecycle is None:
            return _result_changes(connection, row, verb, event)
        changes = _lifecycle_changes(connection, row, event, lifecycle)
        return {**changes, **self.status_after(event.category, lifecycle)}


_INSERT_RECORD = insert(stt_records)  # the columns are the parameters' keys


def _requested(connection: Connection, event: RecordedEvent) -> None:
    requested = JobRequested.model_validate(event.data)
    if not requested.params.get("record"):
        return
    params_model: type[TranscriptionParams | DiarizationParams] = (
        DiarizationParams if event.category == diarization.CATEGORY else TranscriptionParams
    )
    params = params_model.model_validate(requested.params)
    run_values = {**_fresh_results(params), "run": requested.run, "last_position": event.position}
    if requested.run > 1:
        connection.execute(
            update(stt_records)
            .where(stt_records.c.stream_id == event.stream_id)
            .values(**run_values, updated_at=event.recorded_at)
        )
        connection.execute(
            delete(stt_record_segments).where(stt_record_segments.c.stream_id == event.stream_id)
        )
        return
    connection.execute(
        _INSERT_RECORD,
        {
            **run_values,
            "stream_id": event.stream_id,
            "id": requested.job_id,
            "job_kind": params.job_kind,
            "created_at": event.recorded_at,
            "updated_at": event.recorded_at,
            "created_position": event.position,
            "audio": params.audio,
            "filename": params.filename,
            "content_type": params.content_type,
            "title": params.title,
            "speaker_labels": "{}",
        },
    )


def _fresh_results(params: TranscriptionParams | DiarizationParams) -> dict[str, Any]:
    """A run's starting values: what it was asked to do, and no results yet."""
    asr = params if isinstance(params, TranscriptionParams) else None
    return {
        "processing_status": transcription.TRANSCRIPTION.record_status("requested"),
        "progress": 0.0,
        "stage": None,
        "completed_at": None,
        "model": params.model,
        "diarization_model": asr.diarization_model if asr else None,
        "language": asr.language if asr else None,
        "min_speakers": params.min_speakers,
        "max_speakers": params.max_speakers,
        "generate_summary": params.generate_summary,
        "duration": None,
        "text": None,
        "text_through": None,
        "speakers": "[]",
        "speaker_turns": "[]",
        # A summary is on its way once the job completes.
        "summary_status": "pending" if params.generate_summary else "none",
        "summary": None,
        "summary_id": None,
        "summary_model": None,
        "summary_error": None,
        "error": None,
        "result": None,
    }


def _lifecycle_changes(
    connection: Connection, row: Row, event: RecordedEvent, lifecycle: DomainEvent
) -> dict[str, Any]:
    """Changes from the generic job lifecycle, besides the status. The job's end stores the
    transcript: the result's text, or the segments' so far."""
    match lifecycle:
        case JobProgressed(step=step, percent=percent):
            return {"progress": max(row["progress"], percent), "stage": step}
        case JobCompleted(result=result):
            results = _completed_results(row, result)
            return {
                "progress": 100.0,
                "completed_at": event.recorded_at,
                "result": dumps(result),
                **_stored_text(connection, row, event.stream_id, results.get("text")),
                **results,
            }
        case JobFailed(error=error):
            return {**_ended(row, event), **_stored_text(connection, row, event.stream_id), "error": error}
        case JobCancelled():
            return {**_ended(row, event), **_stored_text(connection, row, event.stream_id)}
    return {}


def _completed_results(row: Row, result: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if isinstance(result.get("duration"), int | float):
        changes["duration"] = float(result["duration"])
    if row["job_kind"] != DIARIZATION:
        if isinstance(result.get("text"), str):
            changes["text"] = result["text"]
        if result.get("language"):
            changes["language"] = str(result["language"])
    return changes


def _stored_text(connection: Connection, row: Row, stream_id: str, text: str | None = None) -> dict[str, Any]:
    """The transcript stored once, at the job's end, with the id of the last segment it holds:
    ``text`` (the result's), else the transcript the segments have made so far."""
    if text is None:
        text = transcript_in(connection, stream_id, row["text"], row["text_through"])
    return {"text": text, "text_through": last_segment_id_in(connection, stream_id)}


def _ended(row: Row, event: RecordedEvent) -> dict[str, Any]:
    changes: dict[str, Any] = {"completed_at": event.recorded_at}
    if row["summary_status"] == "pending" and row["summary_id"] is None:
        changes["summary_status"] = "none"  # the summary asked for will never come
    return changes


def _result_changes(connection: Connection, row: Row, verb: str, event: RecordedEvent) -> dict[str, Any]:
    """Changes from the events that carry a record's results, summaries and edits."""
    data = event.data
    if verb == LanguageDetected.verb:
        detected = LanguageDetected.model_validate(data)
        return {"language": detected.language, "duration": detected.duration}
    if verb == SegmentTranscribed.verb:
        return _segment(connection, row, event.stream_id, SegmentTranscribed.model_validate(data))
    if verb == SpeechDetected.verb:
        return {"duration": SpeechDetected.model_validate(data).duration}
    if verb in _SPEAKER_EVENTS:
        found = _SPEAKER_EVENTS[verb].model_validate(data)
        turns = [turn.model_dump(mode="json", exclude_none=True) for turn in found.turns]
        return {"speakers": dumps(found.speakers), "speaker_turns": dumps(turns)}
    if verb == RecordUpdated.verb:
        return _edit(connection, row, event.stream_id, RecordUpdated.model_validate(data))
    return _summary_changes(row, verb, data)


def _segment(connection: Connection, row: Row, stream_id: str, segment: SegmentTranscribed) -> dict[str, Any]:
    """One insert (none for a segment already recorded) and the progress: the transcript and the
    segments recorded so far are neither read nor written."""
    table = stt_record_segments
    known = select(table.c.id).where(table.c.stream_id == stream_id, table.c.id == segment.id)
    if connection.execute(known).first() is not None:
        return {}
    payload = segment.payload()
    connection.execute(
        insert(table).values(
            stream_id=stream_id,
            id=segment.id,
            start=segment.start,
            end=segment.end,
            text=segment.text,
            words=dumps(payload["words"]),
            speaker=segment.speaker,
        )
    )
    changes: dict[str, Any] = {}
    if row["duration"]:
        percent = segment_progress(row["job_kind"], segment.end, row["duration"])
        changes["progress"] = max(row["progress"], percent)
    return changes


def _edit(connection: Connection, row: Row, stream_id: str, edit: RecordUpdated) -> dict[str, Any]:
    given = edit.model_fields_set
    changes: dict[str, Any] = {name: getattr(edit, name) for name in given & {"title", "text"}}
    if "text" in given:  # the transcript from here on: this text and the segments to come
        changes["text_through"] = last_segment_id_in(connection, stream_id)
    if edit.speaker_labels is not None:
        changes["speaker_labels"] = dumps(
            merge_labels(json.loads(row["speaker_labels"]), edit.speaker_labels)
        )
    if "summary" in given:
        # A summary written by hand replaces any being generated (its late events are ignored).
        changes.update(
            summary=edit.summary,
            summary_status="ready" if edit.summary is not None else "none",
            summary_id=None,
            summary_error=None,
        )
    return changes


def _summary_changes(row: Row, verb: str, data: dict[str, Any]) -> dict[str, Any]:
    if verb == summaries.SummaryRequested.verb:
        requested = summaries.SummaryRequested.model_validate(data)
        return {
            "summary_id": requested.summary_id,
            "summary_status": "pending",
            "summary_model": requested.model,
            "summary_error": None,
        }
    event = _summary_event(verb, data)
    if event is None or getattr(event, "summary_id", None) != row["summary_id"]:
        return {}  # not a summary event, or one of a summary since superseded
    match event:
        case summaries.SummaryGenerated(text=text):
            so_far = (row["summary"] or "") if row["summary_status"] == "generating" else ""
            return {"summary": so_far + text, "summary_status": "generating"}
        case summaries.SummaryCompleted(summary=summary, model=model):
            return {"summary": summary, "summary_model": model, "summary_status": "ready"}
        case summaries.SummaryFailed(error=error):
            return {"summary_status": "failed", "summary_error": error}
    return {}


_SUMMARY_EVENTS: dict[str, type[BaseModel]] = {
    cls.verb: cls for cls in (summaries.SummaryGenerated, summaries.SummaryCompleted, summaries.SummaryFailed)
}


def _summary_event(verb: str, data: dict[str, Any]) -> BaseModel | None:
    cls = _SUMMARY_EVENTS.get(verb)
    return cls.model_validate(data) if cls is not None else None
