"""The ``media_objects`` read model: one row per live media path, folded from its ``media-`` stream.

An upload to a new path (or to one deleted before) creates the row; another upload replaces its
object and keeps when it was first created; a deletion drops the row.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, delete, insert, select, update

from app.projections.tables import media_objects
from domain.media_objects import CATEGORY, MediaDeleted, MediaUploaded
from eventstore.base import RecordedEvent


class MediaObjectsProjection:
    name = "media_objects"

    @property
    def tables(self) -> list[Table]:
        return [media_objects]

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if event.category != CATEGORY:
            return
        where = media_objects.c.stream_id == event.stream_id
        verb = event.type.partition(".")[2]
        if verb == MediaDeleted.verb:
            connection.execute(delete(media_objects).where(where))
            return
        if verb != MediaUploaded.verb:
            return
        uploaded = MediaUploaded.model_validate(event.data)
        values = {
            "path": uploaded.path,
            "digest": uploaded.digest,
            "content_type": uploaded.content_type,
            "filename": uploaded.filename,
            "namespace": uploaded.namespace,
            "size_bytes": uploaded.size_bytes,
            "updated_at": event.recorded_at,
        }
        if connection.execute(select(media_objects.c.stream_id).where(where)).first() is not None:
            connection.execute(update(media_objects).where(where).values(**values))
            return
        connection.execute(
            insert(media_objects).values(
                **values,
                stream_id=event.stream_id,
                created_at=event.recorded_at,
                created_position=event.position,
            )
        )
