"""The ``media_references`` read model: which streams claim which media objects.

Deleting a record, a saved voice or a media path removes its stream's claims in the same
transaction as the deletion event; ``unclaimed`` then says which of its media objects no stream
claims any more, so their files can go. A released stream keeps one ``RELEASED`` row, so that
a late event of its job (a sentence synthesized as the deletion came in) claims nothing. An upload
to a media path replaces its stream's claims, a release included: the path holds its new object only.
Rules: ``domain.media_refs``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Engine, Table, bindparam, delete, insert, select

from app.projections.tables import media_references
from domain.media_refs import RELEASED, claimed_media, releases_media, replaces_media
from eventstore.base import RecordedEvent
from eventstore.db import read_transaction

# Built once and given their values at execution: this runs inside every append.
_THIS_STREAM = media_references.c.stream_id == bindparam("claiming_stream_id")
_INSERT = insert(media_references)
_DELETE_CLAIMS = delete(media_references).where(_THIS_STREAM)
_CLAIMS = select(media_references.c.digest).where(_THIS_STREAM)


class MediaReferencesProjection:
    name = "media_references"

    @property
    def tables(self) -> list[Table]:
        return [media_references]

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if releases_media(event.type):
            connection.execute(_DELETE_CLAIMS, {"claiming_stream_id": event.stream_id})
            connection.execute(_INSERT, {"digest": RELEASED, "stream_id": event.stream_id})
            return
        digests = claimed_media(event.type, event.data)
        if replaces_media(event.type):
            connection.execute(_DELETE_CLAIMS, {"claiming_stream_id": event.stream_id})
        if digests:
            _claim(connection, digests, event.stream_id)


def _claim(connection: Connection, digests: list[str], stream_id: str) -> None:
    known = {row.digest for row in connection.execute(_CLAIMS, {"claiming_stream_id": stream_id})}
    if RELEASED in known:
        return
    for digest in digests:
        if digest not in known:
            connection.execute(_INSERT, {"digest": digest, "stream_id": stream_id})


def stream_media(engine: Engine, stream_id: str) -> list[str]:
    """The media objects a stream claims (read before its deletion is appended)."""
    with read_transaction(engine) as connection:
        return stream_media_in(connection, stream_id)


def stream_media_in(connection: Connection, stream_id: str) -> list[str]:
    """``stream_media`` inside a transaction the caller holds (the one that appends the change)."""
    rows = connection.execute(
        select(media_references.c.digest).where(
            media_references.c.stream_id == stream_id, media_references.c.digest != RELEASED
        )
    )
    return sorted(row.digest for row in rows)


def unclaimed(engine: Engine, digests: Iterable[str]) -> list[str]:
    """Those of ``digests`` that no stream claims."""
    wanted = sorted(set(digests))
    if not wanted:
        return []
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(media_references.c.digest).where(media_references.c.digest.in_(wanted)).distinct()
        )
        claimed = {row.digest for row in rows}
    return [digest for digest in wanted if digest not in claimed]
