"""A media upload's JSON fields: the bytes (base64, alias, data URL), the media type, the path."""

from __future__ import annotations

import base64

import pytest

from app.http.errors import ApiError
from app.routes.media.requests import checked_media_type, extension_for, media_upload, split_data_url
from domain.fields import FieldError

FLAC = b"fLaC" + bytes(20)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_data_urls_give_their_media_type_and_data() -> None:
    assert split_data_url("data:audio/wav;base64,UklGRg==", "data_base64") == ("audio/wav", "UklGRg==")
    assert split_data_url("data:;base64,AAAA", "data_base64") == (None, "AAAA")
    assert split_data_url("UklGRg==", "data_base64") == (None, "UklGRg==")
    with pytest.raises(FieldError):
        split_data_url("data:audio/wav,plain", "data_base64")
    with pytest.raises(FieldError):
        split_data_url("data:audio/wav;base64", "data_base64")


def test_media_types_are_checked_and_their_type_lowered() -> None:
    assert checked_media_type("Audio/WAV", "content_type") == "audio/wav"
    assert checked_media_type("audio/ogg; codecs=opus", "content_type") == "audio/ogg; codecs=opus"
    for bad in ("wav", "audio/wav\r\nX-Evil: 1", "audio/wav/x", "audio/", "a" * 199 + "/b"):
        with pytest.raises(FieldError):
            checked_media_type(bad, "content_type")


def test_the_path_is_namespace_and_filename() -> None:
    upload = media_upload({"data_base64": b64(b"RIFF"), "namespace": "chat/t-1", "filename": "a.wav"})
    assert (upload.path, upload.namespace, upload.filename, upload.data) == (
        "chat/t-1/a.wav",
        "chat/t-1",
        "a.wav",
        b"RIFF",
    )
    assert media_upload({"data_base64": b64(b"x"), "namespace": "", "filename": "b.txt"}).path == "b.txt"


def test_the_content_type_comes_from_the_field_the_data_url_or_the_bytes() -> None:
    declared = media_upload({"data_base64": f"data:audio/ogg;base64,{b64(FLAC)}", "content_type": "audio/x"})
    assert declared.content_type == "audio/x"
    from_url = media_upload({"audio_base64": f"data:audio/ogg;base64,{b64(FLAC)}"})
    assert from_url.content_type == "audio/ogg" and from_url.filename.endswith(".ogg")
    sniffed = media_upload({"data_base64": b64(FLAC)})
    assert sniffed.content_type == "audio/flac" and sniffed.path == sniffed.filename
    assert sniffed.filename.endswith(".flac") and len(sniffed.filename) == 32 + len(".flac")
    assert extension_for("application/octet-stream") == ".bin"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "data_base64"),
        ({"data_base64": 5}, "data_base64"),
        ({"data_base64": "%%%"}, "data_base64"),
        ({"data_base64": "AAAA", "audio_base64": "AAAA"}, "audio_base64"),
        ({"data_base64": "AAAA", "namespace": "../x"}, "namespace"),
        ({"data_base64": "AAAA", "filename": "a/b"}, "filename"),
        ({"data_base64": "AAAA", "namespace": 1}, "namespace"),
    ],
)
def test_bad_fields_are_refused_naming_them(body: dict[str, object], param: str) -> None:
    with pytest.raises((FieldError, ApiError)) as refused:
        media_upload(body)
    assert refused.value.param == param
