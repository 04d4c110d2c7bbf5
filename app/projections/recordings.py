"""``workflows.agents.Recordings`` on the speech-to-text records read model: what an agent's tools
may read of the user's recordings (ready records and their transcribed segments)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select

from app.projections.tables import stt_record_segments, stt_records
from domain.jobs import RECORD_STATUSES
from eventstore.db import read_transaction
from workflows.agents import RecordedSegment, Recording

READY = RECORD_STATUSES["completed"]
_COLUMNS = (
    stt_records.c.stream_id,
    stt_records.c.id,
    stt_records.c.title,
    stt_records.c.filename,
    stt_records.c.duration,
    stt_records.c.created_at,
    stt_records.c.last_position,
    stt_records.c.speaker_labels,
)


def _recording(row: Mapping[Any, Any], segments: list[Any] | None = None) -> Recording:
    labels = json.loads(row["speaker_labels"] or "{}")
    return Recording(
        id=row["id"],
        title=row["title"] or row["filename"] or row["id"],
        duration=row["duration"],
        created_at=row["created_at"],
        version=row["last_position"],
        segments=tuple(
            RecordedSegment(s.start, s.end, s.text, labels.get(s.speaker, s.speaker) if s.speaker else None)
            for s in segments or ()
        ),
    )


class RecordsReadModel:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def listed(self, limit: int) -> list[Recording]:
        query = (
            select(*_COLUMNS)
            .where(stt_records.c.processing_status == READY)
            .order_by(stt_records.c.created_position.desc())
            .limit(limit)
        )
        with read_transaction(self.engine) as connection:
            return [_recording(row) for row in connection.execute(query).mappings()]

    def transcribed(self) -> list[Recording]:
        query = select(*_COLUMNS).where(stt_records.c.processing_status == READY)
        with read_transaction(self.engine) as connection:
            rows = list(connection.execute(query).mappings())
            by_stream: dict[str, list[Any]] = {row["stream_id"]: [] for row in rows}
            if by_stream:
                segments = (
                    select(stt_record_segments)
                    .where(stt_record_segments.c.stream_id.in_(list(by_stream)))
                    .order_by(stt_record_segments.c.stream_id, stt_record_segments.c.id)
                )
                for segment in connection.execute(segments):
                    by_stream[segment.stream_id].append(segment)
        return [_recording(row, by_stream[row["stream_id"]]) for row in rows if by_stream[row["stream_id"]]]

    def find(self, record_id: str) -> Recording | None:
        query = select(*_COLUMNS).where(
            stt_records.c.id == record_id, stt_records.c.processing_status == READY
        )
        with read_transaction(self.engine) as connection:
            row = connection.execute(query).mappings().first()
            if row is None:
                return None
            segments = (
                select(stt_record_segments)
                .where(stt_record_segments.c.stream_id == row["stream_id"])
                .order_by(stt_record_segments.c.id)
            )
            return _recording(row, list(connection.execute(segments)))
