"""The ``saved_voices`` read model: one row per saved voice, folded from its ``voice-<id>`` stream
(docs/saved-voices.md).

``voice.saved`` makes a ready row at once. A voice whose transcript is found by a job has a row
from ``voice.requested`` on (``processing``), made ready by ``voice.completed`` with the transcript,
or marked ``failed`` / ``cancelled``. ``voice.deleted`` drops the row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, insert, update

from app.projections.records import Creator, RecordProjection, Row
from app.projections.tables import saved_voices
from domain.events import DomainEvent
from domain.jobs import JobCancelled, JobCompleted, JobFailed, JobRequested, lifecycle_event
from domain.voices import (
    READY,
    VOICE_TRANSCRIPTION,
    VoiceDeleted,
    VoiceSaved,
    VoiceTranscript,
    VoiceTranscriptionParams,
)
from eventstore.base import RecordedEvent


class SavedVoicesProjection(RecordProjection):
    name = "saved_voices"
    table = saved_voices
    kinds = (VOICE_TRANSCRIPTION,)
    deleted_verb = VoiceDeleted.verb

    @property
    def creators(self) -> Mapping[str, Creator]:
        return {VoiceSaved.verb: _saved, JobRequested.verb: _requested}

    def columns(self, verb: str) -> Sequence[Column[Any]]:
        return [saved_voices.c.language]

    def changes(
        self, connection: Connection, row: Row, verb: str, event: RecordedEvent
    ) -> dict[str, Any] | None:
        lifecycle = lifecycle_event(event.type, event.data)
        changes = _job_changes(lifecycle, row["language"])
        return None if changes is None else {**changes, **self.status_after(event.category, lifecycle)}


def _row(event: RecordedEvent, voice_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        **fields,
        "stream_id": event.stream_id,
        "id": voice_id,
        "created_at": event.recorded_at,
        "updated_at": event.recorded_at,
        "created_position": event.position,
        "last_position": event.position,
    }


def _saved(connection: Connection, event: RecordedEvent) -> None:
    saved = VoiceSaved.model_validate(event.data)
    fields = saved.model_dump(exclude={"voice_id"})
    values = _row(event, saved.voice_id, {**fields, "status": READY})
    connection.execute(insert(saved_voices).values(**values))


def _requested(connection: Connection, event: RecordedEvent) -> None:
    requested = JobRequested.model_validate(event.data)
    params = VoiceTranscriptionParams.model_validate(requested.params)
    if requested.run > 1:  # not offered by the API; a rerun would start the transcript over
        connection.execute(
            update(saved_voices)
            .where(saved_voices.c.stream_id == event.stream_id)
            .values(
                status=VOICE_TRANSCRIPTION.record_status("requested"),
                reference_text=None,
                error=None,
                updated_at=event.recorded_at,
                last_position=event.position,
            )
        )
        return
    fields = params.model_dump(exclude={"model"})
    values = _row(
        event,
        requested.job_id,
        {
            **fields,
            "status": VOICE_TRANSCRIPTION.record_status("requested"),
            "transcription_model": params.model,
        },
    )
    connection.execute(insert(saved_voices).values(**values))


def _job_changes(lifecycle: DomainEvent | None, language: str | None) -> dict[str, Any] | None:
    """What the transcription job's end changes besides the status (its other events change
    nothing shown)."""
    match lifecycle:
        case JobCompleted(result=result):
            transcript = VoiceTranscript.model_validate(result)
            return {
                "reference_text": transcript.reference_text,
                "language": transcript.language or language,
                "error": None,
            }
        case JobFailed(error=error):
            return {"error": error}
        case JobCancelled(reason=reason):
            return {"error": reason}
    return None
