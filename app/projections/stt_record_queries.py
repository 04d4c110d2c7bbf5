"""Reading the ``stt_records`` read model: one record, a page of records, and whether a media
object is still referenced (before its file is deleted)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, exists, select

from app.projections.tables import jobs, stt_records
from domain.jobs import TERMINAL_STATUSES
from eventstore.db import read_transaction

# A list page leaves out the two columns that grow with the audio's length.
_PAGE_COLUMNS = [c for c in stt_records.c if c.name not in ("segments", "speaker_turns")]


def find_record(engine: Engine, record_id: str, kinds: Sequence[str]) -> dict[str, Any] | None:
    """The record with this id if it is one of ``kinds``."""
    query = (
        select(stt_records)
        .where(stt_records.c.id == record_id, stt_records.c.job_kind.in_(kinds))
        .order_by(stt_records.c.created_position)
        .limit(1)
    )
    with read_transaction(engine) as connection:
        row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else None


def records_page(
    engine: Engine, kinds: Sequence[str], before: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` records of ``kinds``, newest first, created before position ``before``;
    and whether there are more."""
    query = select(*_PAGE_COLUMNS).where(stt_records.c.job_kind.in_(kinds))
    if before is not None:
        query = query.where(stt_records.c.created_position < before)
    query = query.order_by(stt_records.c.created_position.desc()).limit(limit + 1)
    with read_transaction(engine) as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    return rows[:limit], len(rows) > limit


def audio_in_use(engine: Engine, digest: str) -> bool:
    """Whether a record, or a job under way that is not a record's (an OpenAI-route transcription
    of the same bytes), references this media object. A deleted record's job may still be
    winding down: it no longer counts."""
    by_record = exists().where(stt_records.c.audio == digest)
    # ``jobs.params`` is canonical JSON (sorted keys, no spaces), so these fragments are exact.
    by_job = exists().where(
        jobs.c.status.not_in(TERMINAL_STATUSES),
        jobs.c.params.contains(f'"audio":"{digest}"', autoescape=True),
        ~jobs.c.params.contains('"record":true', autoescape=True),
    )
    with read_transaction(engine) as connection:
        return bool(connection.execute(select(by_record | by_job)).scalar())
