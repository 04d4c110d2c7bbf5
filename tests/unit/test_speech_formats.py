"""Speech request rules, pure: formats and their fallback, headers, fields, model capabilities."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from app.routes.speech.stream import bounded
from domain.catalog import find_variant
from domain.fields import FieldError
from domain.speech import (
    COMPRESSED_FORMATS,
    NATIVE_FORMATS,
    SpeechChunkSynthesized,
    check_model_support,
    choose_format,
    parse_speech_request,
    summarize,
)
from workers.engines import audio


def available(_name: str) -> bool:
    return True


def missing(_name: str) -> bool:
    return False


def refused(call: Any) -> FieldError:
    with pytest.raises(FieldError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(
    ("requested", "actual"),
    [
        (None, "wav"),
        ("", "wav"),
        ("WAV", "wav"),
        ("pcm", "pcm_i16"),
        ("pcm16", "pcm_i16"),
        ("pcm_i16", "pcm_i16"),
        ("raw_i16", "pcm_i16"),
        ("raw_f32", "pcm_f32"),
        ("pcm_f32", "pcm_f32"),
    ],
)
def test_native_formats_never_need_an_encoder(requested: str | None, actual: str) -> None:
    def never_asked(name: str) -> bool:
        raise AssertionError(f"asked about {name}")

    choice = choose_format(requested, allow_fallback=False, encoder_available=never_asked)
    assert choice.actual == actual and choice.fallback is None
    assert choice.requested == (requested or "wav").lower()


@pytest.mark.parametrize("fmt", sorted(COMPRESSED_FORMATS))
def test_compressed_formats_are_encoded_when_their_encoder_exists(fmt: str) -> None:
    for allow in (False, True):
        choice = choose_format(fmt, allow_fallback=allow, encoder_available=available)
        assert (choice.requested, choice.actual, choice.fallback) == (fmt, fmt, None)


def test_a_missing_encoder_is_a_400_unless_the_fallback_is_allowed() -> None:
    error = refused(lambda: choose_format("mp3", allow_fallback=False, encoder_available=missing))
    assert error.param == "response_format"
    assert "allow_format_fallback" in error.message and "mp3" in error.message

    choice = choose_format("MP3", allow_fallback=True, encoder_available=missing)
    assert (choice.requested, choice.actual, choice.fallback) == ("mp3", "wav", "mp3->wav")
    assert choice.fallback_note is not None and "mp3->wav" in choice.fallback_note


def test_unknown_formats_are_a_400_whatever_the_fallback() -> None:
    for allow in (False, True):
        error = refused(lambda a=allow: choose_format("m4a", allow_fallback=a, encoder_available=available))
        assert error.param == "response_format" and "'m4a'" in error.message


def test_headers_name_both_formats_and_a_fallback() -> None:
    plain = choose_format("pcm", allow_fallback=False, encoder_available=missing).headers()
    assert plain["X-Requested-Response-Format"] == "pcm"
    assert plain["X-Actual-Response-Format"] == "pcm_i16"
    assert "X-Response-Format-Fallback" not in plain and "Warning" not in plain
    exposed = [name.strip() for name in plain["Access-Control-Expose-Headers"].split(",")]
    assert {"X-Requested-Response-Format", "X-Actual-Response-Format", "X-Response-Format-Fallback"} <= set(
        exposed
    )

    fallback = choose_format("opus", allow_fallback=True, encoder_available=missing).headers()
    assert fallback["X-Requested-Response-Format"] == "opus"
    assert fallback["X-Actual-Response-Format"] == "wav"
    assert fallback["X-Response-Format-Fallback"] == "opus->wav"
    assert fallback["Warning"].startswith('299 Sauti "') and fallback["Warning"].endswith('"')
    assert fallback["Warning"].count('"') == 2


def test_the_encoder_module_uses_the_same_format_names() -> None:
    assert audio.NATIVE_FORMATS is NATIVE_FORMATS and audio.COMPRESSED_FORMATS is COMPRESSED_FORMATS
    for fmt in ("wav", "pcm_i16", "pcm_f32", *COMPRESSED_FORMATS):
        assert audio.content_type_for(fmt)


@pytest.fixture
def ffmpeg_disabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(audio.FFMPEG_BINARY_ENV, "none")
    audio.ffmpeg_binary.cache_clear()
    audio._available_encoders.cache_clear()
    yield
    monkeypatch.undo()
    audio.ffmpeg_binary.cache_clear()
    audio._available_encoders.cache_clear()


def test_ffmpeg_can_be_switched_off(ffmpeg_disabled: None) -> None:
    with pytest.raises(audio.FFmpegNotFoundError, match="SAUTI_FFMPEG_BINARY"):
        audio.ffmpeg_binary()
    assert not any(audio.encoder_available(fmt) for fmt in COMPRESSED_FORMATS)
    assert all(audio.encoder_available(fmt) for fmt in NATIVE_FORMATS)
    choice = choose_format("flac", allow_fallback=True, encoder_available=audio.encoder_available)
    assert choice.actual == "wav" and choice.fallback == "flac->wav"


def test_a_request_is_parsed_field_by_field() -> None:
    request = parse_speech_request(
        {
            "model": "ignored here",
            "input": " Hello. ",
            "voice": "Default",
            "speed": 1.5,
            "language": "English",
            "temperature": 0.7,
            "top_k": 20,
            "max_tokens": 64,
            "max_output_tokens": 128,
            "stream_format": "SSE",
        }
    )
    assert request.input == " Hello. "
    assert request.voice is None  # "default" means the model's own
    assert request.speed == 1.5 and request.language == "en"
    assert (request.temperature, request.top_k, request.max_tokens) == (0.7, 20, 128)
    assert request.stream is True and request.allow_format_fallback is False
    assert parse_speech_request({"input": "x", "voice": "en-us+f3", "language": "Auto"}).voice == "en-us+f3"
    assert parse_speech_request({"input": "x", "language": "Auto"}).language is None
    assert parse_speech_request({"input": "x", "stream": True}).stream is True
    assert parse_speech_request({"input": "x"}).stream is False
    assert parse_speech_request({"input": "x", "stream": True, "stream_format": "audio"}).stream is False


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": "   "}, "input"),
        ({"input": 3}, "input"),
        ({"input": "x", "voice": 7}, "voice"),
        ({"input": "x", "speed": 0}, "speed"),
        ({"input": "x", "speed": 9}, "speed"),
        ({"input": "x", "speed": "fast"}, "speed"),
        ({"input": "x", "speed": True}, "speed"),
        ({"input": "x", "top_k": 0}, "top_k"),
        ({"input": "x", "max_tokens": 1.5}, "max_tokens"),
        ({"input": "x", "stream": "yes"}, "stream"),
        ({"input": "x", "stream_format": "ws"}, "stream_format"),
        ({"input": "x", "allow_format_fallback": "true"}, "allow_format_fallback"),
        ({"input": "x", "reference_text": "words"}, "reference_text"),
        ({"input": "x", "saved_voice_id": "v1", "reference_audio": "AAAA"}, "saved_voice_id"),
    ],
)
def test_bad_fields_are_named(body: dict[str, Any], param: str) -> None:
    assert refused(lambda: parse_speech_request(body)).param == param


@pytest.mark.parametrize(
    ("field", "value"),
    [("instructions", "a calm voice"), ("reference_audio", "AAAA"), ("saved_voice_id", "voice-1")],
)
def test_fields_piper_cannot_honour_name_the_model(field: str, value: str) -> None:
    piper = find_variant("Piper-Joe-Medium")
    assert piper is not None
    request = parse_speech_request({"input": "Hello.", field: value})
    error = refused(lambda: check_model_support(request, piper))
    assert error.param == field and "Piper-Joe-Medium" in error.message


def test_a_cloning_model_takes_reference_audio_and_saved_voices() -> None:
    f5 = find_variant("F5-TTS")
    assert f5 is not None
    for field in ("reference_audio", "saved_voice_id"):
        check_model_support(parse_speech_request({"input": "Hi.", field: "AAAA"}), f5)
    error = refused(
        lambda: check_model_support(parse_speech_request({"input": "Hi.", "instructions": "x"}), f5)
    )
    assert error.param == "instructions"


def chunk(sequence: int, samples: int, ms: float) -> SpeechChunkSynthesized:
    return SpeechChunkSynthesized(
        sequence=sequence,
        text="x",
        media="0" * 64,
        sample_rate=22_050,
        sample_count=samples,
        generation_ms=ms,
        is_final=False,
    )


def test_the_summary_counts_every_chunk_and_invents_no_tokens() -> None:
    summary = summarize([chunk(0, 22_050, 100.0), chunk(1, 44_100, 200.0)], 22_050)
    result = summary.result()
    assert result["chunk_count"] == 2 and result["sample_count"] == 66_150
    assert result["audio_duration_secs"] == 3.0 and result["generation_time_ms"] == 300.0
    assert result["rtf"] == 0.1 and result["tokens_generated"] is None
    assert summarize([], 22_050).result()["rtf"] is None


async def test_the_sse_buffer_holds_at_most_its_capacity_and_closes_its_source() -> None:
    produced: list[int] = []
    closed = asyncio.Event()

    async def source() -> AsyncIterator[bytes]:
        try:
            for index in range(100):
                produced.append(index)
                yield str(index).encode()
        finally:
            closed.set()

    frames = bounded(source(), 3)
    assert await anext(frames) == b"0"
    await asyncio.sleep(0.05)
    # One taken by the client, three waiting in the queue, one held by the blocked producer.
    assert len(produced) == 5
    await frames.aclose()
    await asyncio.wait_for(closed.wait(), 1)
