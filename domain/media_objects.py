"""Media objects named by path (``/v1/media``): one stream per path, ``media-<sha256(path)[:32]>``.

An upload appends ``media.uploaded`` (uploading to a path again replaces its object: another
``uploaded`` on the same stream); a deletion appends ``media.deleted``. The bytes live in the
content-addressed media store; the events carry their digest. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from domain.events import DomainEvent, stream_id

CATEGORY = "media"
OBJECT_NAME = "media"
URL_PREFIX = "/v1/media/"


class MediaUploaded(DomainEvent):
    verb = "uploaded"
    path: str
    digest: str
    content_type: str
    filename: str
    namespace: str | None = None
    size_bytes: int


class MediaDeleted(DomainEvent):
    verb = "deleted"
    path: str


def media_stream_id(path: str) -> str:
    """The stream of a (checked, normalized) path: the same path is always the same stream."""
    return stream_id(CATEGORY, hashlib.sha256(path.encode()).hexdigest()[:32])


def media_url(path: str) -> str:
    return URL_PREFIX + quote(path, safe="/")


def media_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A media object as the API shows it, from its ``media_objects`` row."""
    return {
        "object": OBJECT_NAME,
        "path": row["path"],
        "url": media_url(row["path"]),
        "content_type": row["content_type"],
        "filename": row["filename"],
        "namespace": row["namespace"],
        "size_bytes": row["size_bytes"],
        "sha256": row["digest"],
        "created_at": int(row["created_at"]),
        "updated_at": int(row["updated_at"]),
    }
