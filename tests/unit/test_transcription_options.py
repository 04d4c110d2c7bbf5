"""How ``/v1/audio/transcriptions`` reads its options: defaults, the contract's spellings, 400s."""

from __future__ import annotations

from typing import Any

import pytest

from app.http.errors import ApiError
from app.routes.transcriptions.routes import TranscriptionOptions
from domain.fields import FieldError


def read(**fields: Any) -> TranscriptionOptions:
    return TranscriptionOptions.read(fields)


def test_defaults() -> None:
    assert read() == TranscriptionOptions("json", (), False)
    assert read(response_format="verbose_json").granularities == ("segment",)


@pytest.mark.parametrize(
    ("fields", "granularities"),
    [
        ({"timestamp_granularities": ["word", "segment"]}, ("word", "segment")),  # multipart name[]
        ({"timestamp_granularities[]": "word"}, ("word",)),  # JSON with the bracketed name
        ({"timestamp_granularities": "segment,word,word"}, ("segment", "word")),
    ],
)
def test_granularities(fields: dict[str, Any], granularities: tuple[str, ...]) -> None:
    assert read(response_format="verbose_json", **fields).granularities == granularities


@pytest.mark.parametrize("value", [True, "true", "1", 1, "yes", "ON"])
def test_stream_spellings(value: object) -> None:
    assert read(stream=value).stream


@pytest.mark.parametrize("value", [False, "false", "0", 0, "no", "off", ""])
def test_no_stream_spellings(value: object) -> None:
    assert not read(stream=value).stream


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"response_format": "docx"}, "response_format"),
        ({"response_format": 3}, "response_format"),
        ({"timestamp_granularities": ["word"]}, "timestamp_granularities[]"),  # json, not verbose_json
        (
            {"response_format": "verbose_json", "timestamp_granularities": ["token"]},
            "timestamp_granularities[]",
        ),
        ({"response_format": "verbose_json", "timestamp_granularities": [1]}, "timestamp_granularities[]"),
        ({"stream": "maybe"}, "stream"),
        ({"stream": 2}, "stream"),
        ({"max_tokens": "many"}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"temperature": True}, "temperature"),
    ],
)
def test_invalid_options(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(FieldError) as raised:
        read(**fields)
    error = ApiError.from_field_error(raised.value)
    assert (error.status, error.param) == (400, param)


def test_accepted_compatibility_fields() -> None:
    assert read(max_tokens="128", temperature="0.2") == read()
