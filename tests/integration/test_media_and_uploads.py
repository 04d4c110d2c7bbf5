"""The media store on a real directory, and audio request bodies parsed by a real Quart app."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from app.http.errors import register_error_handlers
from app.http.uploads import read_audio_form, require_audio
from eventstore.media import MediaNotFound, MediaStore

LIMIT = 1024


def test_media_objects_are_content_addressed_and_idempotent(tmp_path: Path) -> None:
    media = MediaStore(tmp_path / "media")
    digest = media.put(b"RIFF-some-audio")
    assert digest == hashlib.sha256(b"RIFF-some-audio").hexdigest()
    assert media.put(b"RIFF-some-audio") == digest
    assert media.read(digest) == b"RIFF-some-audio"
    assert media.size(digest) == 15 and media.exists(digest)
    assert media.path(digest).parent.name == digest[:2]
    assert not [p for p in media.path(digest).parent.iterdir() if p.name.startswith(".incoming-")]


def test_media_objects_stored_a_piece_at_a_time_are_the_same_objects(tmp_path: Path) -> None:
    media = MediaStore(tmp_path / "media")
    pieces = [b"RIFF-", b"some-", b"audio"]
    assert media.put_chunks(iter(pieces)) == (media.put(b"RIFF-some-audio"), 15)
    assert media.put_chunks(iter(pieces))[0] == hashlib.sha256(b"RIFF-some-audio").hexdigest()

    def failing() -> Any:
        yield b"half"
        raise OSError("the source went away")

    with pytest.raises(OSError):
        media.put_chunks(failing())
    assert not [p for p in media.root.iterdir() if p.name.startswith(".incoming-")]  # nothing half-written
    left = media.root / ".incoming-crashed"
    left.write_bytes(b"x")
    assert media.remove_leftovers(older_than=time.time() + 1) == 1 and not left.exists()


def test_media_objects_can_be_deleted(tmp_path: Path) -> None:
    media = MediaStore(tmp_path / "media")
    digest = media.put(b"RIFF-gone-soon")

    def remove(name: str) -> int | None:
        return media.remove_if(name, stored_before=time.time() + 1, unclaimed=lambda _: True)

    assert remove(digest) == 14 and not media.exists(digest)
    assert remove(digest) is None
    with pytest.raises(ValueError):
        remove("../../etc/passwd")


def test_media_digests_cannot_name_other_files(tmp_path: Path) -> None:
    media = MediaStore(tmp_path / "media")
    for bad in ("../../etc/passwd", "a" * 63, "A" * 64, "/abs", "0" * 64 + "/x"):
        with pytest.raises(ValueError):
            media.path(bad)
    with pytest.raises(MediaNotFound):
        media.read("0" * 64)


@pytest.fixture
def app() -> Quart:
    app = Quart(__name__)
    register_error_handlers(app)

    @app.post("/upload")
    async def upload() -> dict[str, Any]:
        form = await read_audio_form(LIMIT)
        audio = require_audio(form)
        return {
            "fields": form.fields,
            "size": len(audio),
            "filename": form.filename,
            "content_type": form.content_type,
        }

    return app


async def test_json_with_base64_audio(app: Quart) -> None:
    client = app.test_client()
    encoded = base64.b64encode(b"\x01\x02\x03").decode()
    response = await client.post("/upload", json={"audio_base64": encoded, "model": "m"})
    assert response.status_code == 200
    body = await response.get_json()
    assert body["size"] == 3 and body["fields"]["model"] == "m"
    data_url = await client.post("/upload", json={"audio_base64": f"data:audio/wav;base64,{encoded}"})
    assert (await data_url.get_json())["size"] == 3


async def test_multipart_file_or_audio_part_and_list_fields(app: Quart) -> None:
    client = app.test_client()
    for part in ("file", "audio"):
        response = await client.post(
            "/upload",
            form={"model": "m", "timestamp_granularities[]": "word"},
            files={part: _file(b"abcd", "a.wav")},
        )
        assert response.status_code == 200, await response.get_data()
        body = await response.get_json()
        assert body["size"] == 4 and body["filename"] == "a.wav" and body["content_type"] == "audio/wav"
        assert body["fields"]["timestamp_granularities"] == ["word"]


async def test_bad_bodies_get_the_envelope(app: Quart) -> None:
    client = app.test_client()
    cases = [
        (await client.post("/upload", json={"model": "m"}), 400, "file"),
        (await client.post("/upload", json={"audio_base64": "not base64!"}), 400, "audio_base64"),
        (await client.post("/upload", data="text", headers={"Content-Type": "text/plain"}), 415, None),
        (await client.post("/upload", json={"audio_base64": "A" * (LIMIT + 8)}), 413, None),
        (await client.post("/upload", files={"file": _file(b"x" * (LIMIT + 1), "big.wav")}), 413, None),
    ]
    for response, status, param in cases:
        assert response.status_code == status
        error = (await response.get_json())["error"]
        assert error["code"] == str(status) and error["param"] == param and error["message"]


def _file(data: bytes, name: str) -> Any:
    import io

    from quart.datastructures import FileStorage

    return FileStorage(io.BytesIO(data), filename=name, content_type="audio/wav")
