"""Reading the ``stt_records`` read model: one record, and a page of records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select

from app.projections.pages import newest_first
from app.projections.tables import stt_records
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
    return newest_first(
        engine, stt_records, select(*_PAGE_COLUMNS).where(stt_records.c.job_kind.in_(kinds)), before, limit
    )
