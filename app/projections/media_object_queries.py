"""Reading the ``media_objects`` read model: one path, and a page of paths."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, select

from app.projections.pages import newest_first
from app.projections.tables import media_objects
from eventstore.db import read_transaction


def find_object(engine: Engine, path: str) -> dict[str, Any] | None:
    with read_transaction(engine) as connection:
        return find_object_in(connection, path)


def find_object_in(connection: Connection, path: str) -> dict[str, Any] | None:
    """``find_object`` inside a transaction the caller holds."""
    row = connection.execute(select(media_objects).where(media_objects.c.path == path)).mappings().first()
    return dict(row) if row is not None else None


def objects_page(engine: Engine, before: int | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` objects, newest first, created before position ``before``; and whether there
    are more."""
    return newest_first(engine, media_objects, select(media_objects), before, limit)
