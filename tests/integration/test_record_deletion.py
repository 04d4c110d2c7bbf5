"""The one deletion path (``app.records.deletion``) on a real SQLite store and media directory."""

from __future__ import annotations

import time
import uuid

from app.bootstrap import Container
from app.records.deletion import delete_stream
from domain.stt_records import RecordDeleted
from eventstore.base import NewEvent


def _claim(container: Container, stream_id: str, digest: str) -> None:
    """An event of ``stream_id`` that claims the media object (as a synthesized sentence does)."""
    event = NewEvent(type="speech.chunk_synthesized", data={"media": digest}, event_id=str(uuid.uuid4()))
    container.store.append(stream_id, [event])


def test_a_deletion_removes_the_media_only_its_stream_claimed(container: Container) -> None:
    own = container.media.put(b"only this record's sentence")
    shared = container.media.put(b"a sentence two records said")
    _claim(container, "speech-a", own)
    _claim(container, "speech-a", shared)
    _claim(container, "speech-b", shared)

    assert delete_stream(container.store, container.media, "speech-a", RecordDeleted(), metadata={})

    assert not container.media.exists(own)
    assert container.media.exists(shared)
    events = container.store.read_stream("speech-a")
    assert events[-1].type == "speech.record_deleted"


def test_bytes_another_job_stored_again_before_claiming_them_are_kept(container: Container) -> None:
    data = b"the same sentence, synthesized by a second job"
    digest = container.media.put(data)
    _claim(container, "speech-a", digest)
    time.sleep(0.02)
    # A second job stores the same bytes (content-addressed: the same file) and has not yet
    # appended the event that claims them when the first record is deleted.
    assert container.media.put(data) == digest

    assert delete_stream(container.store, container.media, "speech-a", RecordDeleted(), metadata={})

    assert container.media.exists(digest)
    _claim(container, "speech-b", digest)
    assert container.media.read(digest) == data


def test_deleting_twice_or_deleting_nothing_is_refused(container: Container) -> None:
    digest = container.media.put(b"once")
    _claim(container, "speech-a", digest)
    assert delete_stream(container.store, container.media, "speech-a", RecordDeleted(), metadata={})
    assert not delete_stream(container.store, container.media, "speech-a", RecordDeleted(), metadata={})
    assert not delete_stream(container.store, container.media, "speech-none", RecordDeleted(), metadata={})
    assert [e.type for e in container.store.read_stream("speech-a")].count("speech.record_deleted") == 1
