"""Media paths: nested relative paths are accepted; anything that could leave the media root, now or
after another decoding or normalization step, is refused."""

from __future__ import annotations

import pytest

from domain.fields import FieldError
from domain.media_objects import media_stream_id, media_url
from domain.media_paths import MAX_PATH_BYTES, join_media_path, media_filename, media_path

HOSTILE = [
    "/etc/passwd",
    "..",
    "../x",
    "a/../../b",
    "a/..",
    "%2e%2e/x",
    "%2E%2E%2Fetc",
    "..%2fetc",
    "a%2Fb",
    "%252e%252e/x",
    "..\\x",
    "a\\b",
    "a\x00b",
    "a%00b",
    "./a",
    "a/./b",
    "a//b",
    "a/",
    "C:\\x",
    "C:/x",
    "c:x",
    "~/x",
    "~root/x",
    "a\nb",
    "a\rb",
    "a\tb",
    "a\x1bb",
    "a\x7fb",
    "a\u202eb",  # right-to-left override
    "a\u200bb",  # zero-width space
    "a\u2028b",  # line separator
    "a\ud800b",  # a lone surrogate
    "\uff0e\uff0e/x",  # fullwidth dots: '..' after NFKC
    "a\uff0f..\uff0fb",  # fullwidth solidus: 'a/../b' after NFKC
    " a/b",
    "a /b",
    "x" * 256,
    "/".join(["a"] * 33),
    "/".join(["x" * 200] * 6),
    "",
]


@pytest.mark.parametrize("path", HOSTILE, ids=repr)
def test_hostile_paths_are_refused(path: str) -> None:
    with pytest.raises(FieldError) as refused:
        media_path(path)
    assert refused.value.param == "path"


@pytest.mark.parametrize("value", [None, 3, b"a/b", ["a"]])
def test_only_strings_are_paths(value: object) -> None:
    with pytest.raises(FieldError):
        media_path(value)


@pytest.mark.parametrize(
    "path",
    [
        "utterance.wav",
        "chat/thread-1/attachment.wav",
        "images/example.png",
        "voice/session-1/utterance.wav",
        "a/b/c/d/e/f.bin",
        "100%.wav",
        "notes v2 (final).txt",
        "...",
        ".hidden",
        "a..b/c",
        "data:audio",
        "ünïcødé/日本語.wav",
        "/".join(["a"] * 32),
        "x" * 255,
    ],
)
def test_relative_nested_paths_are_accepted(path: str) -> None:
    assert media_path(path) == path


def test_paths_are_kept_in_nfc_so_one_name_is_one_path() -> None:
    decomposed = "cafe\u0301.wav"
    assert media_path(decomposed) == "caf\u00e9.wav"
    assert media_stream_id(media_path(decomposed)) == media_stream_id(media_path("caf\u00e9.wav"))


def test_the_whole_path_is_limited_in_bytes() -> None:
    segment = "x" * 200
    fits = "/".join([segment] * 5)
    assert len(fits.encode()) <= MAX_PATH_BYTES
    assert media_path(fits) == fits
    assert len("é".encode()) == 2
    with pytest.raises(FieldError, match="longer than 255 bytes"):
        media_path("é" * 128)


def test_a_filename_is_one_segment_and_a_namespace_nests_it() -> None:
    assert media_filename("attachment.wav") == "attachment.wav"
    with pytest.raises(FieldError) as nested:
        media_filename("thread-1/attachment.wav")
    assert nested.value.param == "filename"
    with pytest.raises(FieldError) as traversal:
        media_filename("..", "filename")
    assert traversal.value.param == "filename"
    assert join_media_path("chat/thread-1", "attachment.wav") == "chat/thread-1/attachment.wav"
    assert join_media_path(None, "attachment.wav") == "attachment.wav"
    with pytest.raises(FieldError) as too_long:
        join_media_path("/".join(["n" * 200] * 5), "x" * 200)
    assert too_long.value.param == "namespace"


def test_one_path_is_one_stream_and_its_url_is_encoded() -> None:
    assert media_stream_id("a/b.wav") == media_stream_id("a/b.wav")
    assert media_stream_id("a/b.wav") != media_stream_id("a/c.wav")
    assert media_stream_id("a/b.wav").startswith("media-") and len(media_stream_id("a/b.wav")) == 38
    assert media_url("chat/thread 1/100%.wav") == "/v1/media/chat/thread%201/100%25.wav"
