"""Reading the ``speech_records`` read model: one record, and a page of a family's records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from app.projections.pages import newest_first
from app.projections.tables import speech_records
from eventstore.db import read_transaction


def find_record(engine: Engine, record_id: str, family: str) -> dict[str, Any] | None:
    """The record of ``family`` with this id."""
    query = (
        select(speech_records)
        .where(speech_records.c.id == record_id, speech_records.c.family == family)
        .order_by(speech_records.c.created_position)
        .limit(1)
    )
    with read_transaction(engine) as connection:
        row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else None


def records_page(
    engine: Engine, family: str, before: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` records of ``family``, newest first, created before position ``before``;
    and whether there are more."""
    return newest_first(
        engine, speech_records, select(speech_records).where(speech_records.c.family == family), before, limit
    )
