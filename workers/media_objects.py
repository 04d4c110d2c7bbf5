"""Media objects a worker makes and publishes at a media path (``/v1/media/<path>``), as an upload
would: the bytes into the content-addressed store, then the path's ``uploaded`` event (its id made
of the path and the bytes, so a step run again records nothing new)."""

from __future__ import annotations

from domain.events import deterministic_event_id
from domain.media_objects import CATEGORY, MediaUploaded, media_stream_id, media_url
from workers import runtime
from workflows.jobs import to_new_event


def publish(path: str, data: bytes, content_type: str, *, causation_id: str | None = None) -> tuple[str, str]:
    """Store ``data`` at the (checked) media ``path``: its digest and URL."""
    namespace, _, filename = path.rpartition("/")
    uploaded = MediaUploaded(
        path=path,
        digest=runtime.media().put(data),
        content_type=content_type,
        filename=filename,
        namespace=namespace or None,
        size_bytes=len(data),
    )
    stream = media_stream_id(path)
    metadata = {"causation_id": causation_id} if causation_id else {}
    event = to_new_event(
        CATEGORY, uploaded, deterministic_event_id(stream, uploaded.verb, uploaded.digest), metadata
    )
    runtime.current().store.append(stream, [event])
    return uploaded.digest, media_url(path)
