"""Media objects by path: the bytes go to the content-addressed store, the change is an event on the
path's stream, and an object that no stream claims any more afterwards loses its file.

Each change reads what the path held and appends in one write transaction, so two requests on the
same path cannot both release the same old object, or both miss one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.projections.media_object_queries import find_object_in
from app.projections.media_refs import stream_media_in
from app.records.deletion import delete_stream, release_media
from app.routes.media.requests import MediaUpload
from domain.fields import FieldError
from domain.media_objects import CATEGORY, MediaDeleted, MediaUploaded, media_stream_id
from eventstore.media import MediaStore
from eventstore.sql import SqlEventStore
from workflows.jobs import to_new_event


class MediaLibrary:
    def __init__(self, store: SqlEventStore, media: MediaStore) -> None:
        self.store = store
        self.media = media

    def check_inside_root(self, path: str, param: str = "path") -> None:
        """Refuse a (checked) path that the file system resolves outside the media root, through a
        symbolic link: objects are not stored under their paths, but nothing should ever be able to
        name a file outside the root."""
        root = self.media.root.resolve()
        if not (root / path).resolve().is_relative_to(root):
            raise FieldError(f"`{param}` leads outside the media root.", param)

    def upload(self, upload: MediaUpload, metadata: dict[str, Any]) -> dict[str, Any]:
        """Store the object at its path (replacing what was there) and return its row."""
        digest = self.media.put(upload.data)
        row = self.record(upload, digest, len(upload.data), metadata)
        # A deletion that committed between ``put`` and the append may have removed these same
        # bytes (an object shared with another path): this path claims them now, so store them again.
        if not self.media.exists(digest):
            self.media.put(upload.data)
        return row

    def upload_chunks(
        self, upload: MediaUpload, chunks: Iterable[bytes], metadata: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``upload`` of bytes made a piece at a time (``upload.data`` is not read), never all in
        memory. None when a deletion removed the same bytes meanwhile: make them again."""
        digest, size = self.media.put_chunks(chunks)
        row = self.record(upload, digest, size, metadata)
        return row if self.media.exists(digest) else None

    def record(self, upload: MediaUpload, digest: str, size: int, metadata: dict[str, Any]) -> dict[str, Any]:
        """Record stored bytes as the object at ``upload.path``; the object it replaces gives up its file."""
        stream_id = media_stream_id(upload.path)
        event = MediaUploaded(
            path=upload.path,
            digest=digest,
            content_type=upload.content_type,
            filename=upload.filename,
            namespace=upload.namespace,
            size_bytes=size,
        )
        before = self.store.read_stream(stream_id)
        with self.store.transaction() as tx:
            previous = stream_media_in(tx.connection, stream_id)
            tx.append(stream_id, [to_new_event(CATEGORY, event, metadata=_meta(stream_id, metadata))])
            row = find_object_in(tx.connection, upload.path)
        if row is None:
            raise RuntimeError(f"the media_objects projection did not record {upload.path!r}")
        if before:
            release_media(self.store, self.media, [d for d in previous if d != digest], before[-1])
        return row

    def delete(self, path: str, metadata: dict[str, Any]) -> bool:
        """Delete the object at ``path``; False when there is none."""
        return delete_stream(
            self.store, self.media, media_stream_id(path), MediaDeleted(path=path), metadata=metadata
        )


def _meta(stream_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    return {"correlation_id": stream_id, **metadata}
