"""Media objects by path on a real SQLite event store and media directory: uploads, replacements and
deletions as events, the ``media_objects`` and ``media_references`` projections they keep, the
files that go once nothing claims them, and a rebuild that reproduces the tables."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.bootstrap import build_projections
from app.projections.media_object_queries import find_object, objects_page
from app.projections.media_refs import stream_media
from app.routes.media.library import MediaLibrary
from app.routes.media.requests import MediaUpload
from domain.fields import FieldError
from domain.media_objects import media_stream_id
from eventstore.media import MediaStore
from eventstore.projections import ProjectionRegistry
from eventstore.sql import SqlEventStore


class Library:
    def __init__(self, engine: Engine, media_root: Path) -> None:
        self.engine = engine
        self.projections: ProjectionRegistry = build_projections()
        self.store = SqlEventStore(engine, projector=self.projections)
        self.media = MediaStore(media_root)
        self.library = MediaLibrary(self.store, self.media)

    def upload(self, path: str, data: bytes, content_type: str = "audio/wav") -> dict[str, object]:
        namespace, _, filename = path.rpartition("/")
        upload = MediaUpload(path, namespace or None, filename, content_type, data)
        return self.library.upload(upload, {"request_id": "test"})


@pytest.fixture
def library(sqlite_engine: Engine, tmp_path: Path) -> Library:
    return Library(sqlite_engine, tmp_path / "media")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_upload_is_an_event_on_the_paths_stream_and_a_row(library: Library) -> None:
    row = library.upload("chat/thread-1/a.wav", b"RIFF one")
    stream_id = media_stream_id("chat/thread-1/a.wav")
    assert row["stream_id"] == stream_id
    assert (row["path"], row["namespace"], row["filename"]) == (
        "chat/thread-1/a.wav",
        "chat/thread-1",
        "a.wav",
    )
    assert (row["digest"], row["size_bytes"], row["content_type"]) == (digest(b"RIFF one"), 8, "audio/wav")
    [event] = library.store.read_stream(stream_id)
    assert event.type == "media.uploaded"
    assert event.data == {
        "path": "chat/thread-1/a.wav",
        "digest": digest(b"RIFF one"),
        "content_type": "audio/wav",
        "filename": "a.wav",
        "namespace": "chat/thread-1",
        "size_bytes": 8,
    }
    assert event.metadata["correlation_id"] == stream_id
    assert library.media.read(digest(b"RIFF one")) == b"RIFF one"
    assert stream_media(library.engine, stream_id) == [digest(b"RIFF one")]


def test_replacing_a_path_releases_its_old_object(library: Library) -> None:
    first = library.upload("a.wav", b"first")
    second = library.upload("a.wav", b"second", "audio/x-wav")
    assert second["stream_id"] == first["stream_id"]
    assert second["created_position"] == first["created_position"]
    assert second["created_at"] == first["created_at"]
    assert (second["digest"], second["content_type"], second["size_bytes"]) == (
        digest(b"second"),
        "audio/x-wav",
        6,
    )
    assert stream_media(library.engine, str(first["stream_id"])) == [digest(b"second")]
    assert not library.media.exists(digest(b"first"))
    assert library.media.read(digest(b"second")) == b"second"


def test_bytes_shared_by_two_paths_stay_until_neither_holds_them(library: Library) -> None:
    library.upload("one.wav", b"shared")
    library.upload("two.wav", b"shared")
    assert library.library.delete("one.wav", {})
    assert library.media.exists(digest(b"shared"))
    library.upload("two.wav", b"other")  # replaced: the last claim on the shared bytes goes
    assert not library.media.exists(digest(b"shared"))


def test_deleting_drops_the_row_and_the_file_and_a_new_upload_claims_again(library: Library) -> None:
    library.upload("gone.wav", b"to delete")
    assert library.library.delete("gone.wav", {})
    assert find_object(library.engine, "gone.wav") is None
    assert not library.media.exists(digest(b"to delete"))
    assert not library.library.delete("gone.wav", {})
    types = [event.type for event in library.store.read_stream(media_stream_id("gone.wav"))]
    assert types == ["media.uploaded", "media.deleted"]

    again = library.upload("gone.wav", b"back again")
    assert stream_media(library.engine, media_stream_id("gone.wav")) == [digest(b"back again")]
    # Claimed again: another path's deletion of the same bytes leaves them stored.
    library.upload("other.wav", b"back again")
    assert library.library.delete("other.wav", {})
    assert library.media.exists(digest(b"back again"))
    assert again["created_position"] > 0


def test_pages_are_newest_first(library: Library) -> None:
    for index in range(5):
        library.upload(f"p/{index}.wav", bytes([index]))
    library.upload("p/1.wav", b"replaced keeps its place")
    first, more = objects_page(library.engine, None, 3)
    assert [row["path"] for row in first] == ["p/4.wav", "p/3.wav", "p/2.wav"] and more
    rest, more = objects_page(library.engine, first[-1]["created_position"], 3)
    assert [row["path"] for row in rest] == ["p/1.wav", "p/0.wav"] and not more


def test_rebuild_reproduces_media_objects_and_references(library: Library) -> None:
    library.upload("a/x.wav", b"x")
    library.upload("a/y.wav", b"y")
    library.upload("a/x.wav", b"x2")
    library.upload("a/z.wav", b"y")
    library.library.delete("a/y.wav", {})
    library.library.delete("a/z.wav", {})
    library.upload("a/z.wav", b"z")
    before = library.projections.dump(library.engine)
    assert [row[1] for row in before["media_objects"]] == ["a/x.wav", "a/z.wav"]
    library.projections.rebuild(library.store)
    assert library.projections.dump(library.engine) == before


def test_a_symbolic_link_out_of_the_media_root_is_refused(library: Library, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    library.media.root.mkdir(parents=True, exist_ok=True)
    (library.media.root / "escape").symlink_to(outside, target_is_directory=True)
    (library.media.root / "inside").symlink_to(library.media.root / "ab", target_is_directory=True)
    with pytest.raises(FieldError) as refused:
        library.library.check_inside_root("escape/x.wav", "namespace")
    assert refused.value.param == "namespace"
    library.library.check_inside_root("inside/x.wav")
    library.library.check_inside_root("not/there/yet.wav")
