"""The ``speech_records`` read model: one row per speech history record, folded from its
``speech-<id>`` stream (docs/speech-records.md).

Only streams requested with ``record: true`` have a row (``POST /v1/audio/speech`` jobs are
``speech-`` streams too). The completed result names the record's WAV (``audio``) and its stats;
``record_deleted`` drops the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, update

from app.projections.records import Creator, RecordProjection, Row
from app.projections.tables import speech_records
from domain.events import DomainEvent
from domain.jobs import (
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobRequested,
    lifecycle_event,
)
from domain.speech import SPEECH, SpeechParams, SpeechSynthesisPlanned
from domain.stt_records import RecordDeleted
from eventstore.base import RecordedEvent, dumps


class SpeechRecordsProjection(RecordProjection):
    name = "speech_records"
    table = speech_records
    kinds = (SPEECH,)
    deleted_verb = RecordDeleted.verb

    @property
    def creators(self) -> Mapping[str, Creator]:
        return {JobRequested.verb: _requested}

    def changes(self, connection: Connection, row: Row, verb: str, event: RecordedEvent) -> dict[str, Any]:
        lifecycle = lifecycle_event(event.type, event.data)
        return {**_changes(verb, event, lifecycle), **self.status_after(event.category, lifecycle)}


def _requested(connection: Connection, event: RecordedEvent) -> None:
    requested = JobRequested.model_validate(event.data)
    if not requested.params.get("record"):
        return
    params = SpeechParams.model_validate(requested.params)
    fresh = {
        "status": SPEECH.record_status("requested"),
        "run": requested.run,
        "completed_at": None,
        "audio": None,
        "duration_secs": None,
        "sample_rate": None,
        "error": None,
        "result": None,
        "updated_at": event.recorded_at,
        "last_position": event.position,
    }
    if requested.run > 1:  # a rerun of the same stream starts the results over
        connection.execute(
            update(speech_records).where(speech_records.c.stream_id == event.stream_id).values(**fresh)
        )
        return
    connection.execute(
        insert(speech_records).values(
            **fresh,
            stream_id=event.stream_id,
            id=requested.job_id,
            family=params.family,
            created_at=event.recorded_at,
            created_position=event.position,
            model=params.model,
            input=params.input,
            voice=params.voice,
            speed=params.speed,
            language=params.language,
            instructions=params.instructions,
            reference_audio=params.reference_audio,
            reference_text=params.reference_text,
            saved_voice_id=params.saved_voice_id,
        )
    )


def _changes(verb: str, event: RecordedEvent, lifecycle: DomainEvent | None) -> dict[str, Any]:
    """What the event changes besides the status."""
    if verb == SpeechSynthesisPlanned.verb:
        plan = SpeechSynthesisPlanned.model_validate(event.data)
        return {"voice": plan.voice, "sample_rate": plan.sample_rate}
    match lifecycle:
        case JobCompleted(result=result):
            return {
                "completed_at": event.recorded_at,
                "audio": result.get("audio"),
                "duration_secs": result.get("duration_secs"),
                "sample_rate": result.get("sample_rate"),
                "result": dumps(result),
            }
        case JobFailed(error=error):
            return {"error": error, "completed_at": event.recorded_at}
        case JobCancelled():
            return {"completed_at": event.recorded_at}
    return {}
