"""Reading the ``saved_voices`` read model: one voice, and a page of voices."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from app.projections.pages import newest_first
from app.projections.tables import saved_voices
from domain.events import stream_id
from domain.voices import CATEGORY
from eventstore.db import read_transaction


def find_voice(engine: Engine, voice_id: str) -> dict[str, Any] | None:
    """The voice with this id, if it exists and was not deleted."""
    query = select(saved_voices).where(saved_voices.c.stream_id == stream_id(CATEGORY, voice_id))
    with read_transaction(engine) as connection:
        row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else None


def voices_page(engine: Engine, before: int | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` voices, newest first, created before position ``before``; and whether
    there are more."""
    return newest_first(engine, saved_voices, select(saved_voices), before, limit)
