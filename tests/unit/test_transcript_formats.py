"""Transcript documents folded from segment events: text, SRT, WebVTT, verbose JSON, alignments."""

from __future__ import annotations

from datetime import timedelta

import pytest
import srt
import webvtt

from domain.transcription import (
    AlignmentResult,
    SegmentTranscribed,
    TranscriptionResult,
    WordTiming,
    alignment_json,
    alignment_text,
    extend_transcript,
    format_timestamp,
    language_code,
    text_delta,
    to_srt,
    to_vtt,
    transcribed_segments,
    transcript_text,
    verbose_transcript,
)


def segment(index: int, start: float, end: float, text: str, *words: WordTiming) -> SegmentTranscribed:
    return SegmentTranscribed(id=index, start=start, end=end, text=text, words=words)


SEGMENTS = [
    segment(0, 0.0, 8.06, "And so my fellow Americans", WordTiming(word="And", start=0.0, end=0.3)),
    segment(1, 8.06, 10.5, "ask what you can do.", WordTiming(word="ask", start=8.1, end=8.4)),
]


@pytest.mark.parametrize(
    ("seconds", "srt_stamp", "vtt_stamp"),
    [
        (0.0, "00:00:00,000", "00:00:00.000"),
        (8.06, "00:00:08,060", "00:00:08.060"),
        (59.9996, "00:01:00,000", "00:01:00.000"),  # rounding carries into the minutes
        (3599.9995, "01:00:00,000", "01:00:00.000"),  # ... and into the hours
        (3661.001, "01:01:01,001", "01:01:01.001"),
        (-0.5, "00:00:00,000", "00:00:00.000"),  # negative times clamp to zero
        (100 * 3600 + 0.25, "100:00:00,250", "100:00:00.250"),  # hours never wrap
    ],
)
def test_timestamps(seconds: float, srt_stamp: str, vtt_stamp: str) -> None:
    assert format_timestamp(seconds) == srt_stamp
    assert format_timestamp(seconds, ".") == vtt_stamp


def test_srt_numbers_cues_from_one_and_parses() -> None:
    document = to_srt(SEGMENTS)
    assert document == (
        "1\n00:00:00,000 --> 00:00:08,060\nAnd so my fellow Americans\n\n"
        "2\n00:00:08,060 --> 00:00:10,500\nask what you can do.\n"
    )
    cues = list(srt.parse(document))
    assert [cue.index for cue in cues] == [1, 2]
    assert cues[1].start == timedelta(seconds=8.06) and cues[1].end == timedelta(seconds=10.5)
    assert [cue.content for cue in cues] == ["And so my fellow Americans", "ask what you can do."]


def test_vtt_has_a_header_and_parses() -> None:
    document = to_vtt(SEGMENTS)
    assert document.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:08.060\nAnd so my fellow Americans\n")
    captions = webvtt.from_string(document).captions
    assert [(c.start, c.end, c.text) for c in captions] == [
        ("00:00:00.000", "00:00:08.060", "And so my fellow Americans"),
        ("00:00:08.060", "00:00:10.500", "ask what you can do."),
    ]


def test_cues_skip_empty_text_and_stay_one_line_and_ordered() -> None:
    awkward = [
        segment(0, 1.0, 2.0, "   "),
        segment(1, 2.0, 1.5, "first line\n\nsecond line"),  # end before start, and a blank line
        segment(2, 3.0, 4.0, "a --> b"),
    ]
    cues = list(srt.parse(to_srt(awkward)))
    assert [cue.index for cue in cues] == [1, 2]
    assert cues[0].content == "first line second line"
    assert cues[0].start == cues[0].end == timedelta(seconds=2)
    vtt = webvtt.from_string(to_vtt(awkward)).captions
    assert [c.text for c in vtt] == ["first line second line", "a -> b"]
    assert to_srt([]) == "" and to_vtt([]) == "WEBVTT\n"


def test_text_and_stream_deltas_add_up() -> None:
    texts = ["And so my fellow Americans", "", "ask what\nyou can do."]
    segments = [segment(i, i, i + 1, text) for i, text in enumerate(texts)]
    whole = transcript_text(segments)
    assert whole == "And so my fellow Americans ask what you can do."
    non_empty = [s.text for s in segments if s.text.strip()]
    deltas = [text_delta(text, first=i == 0) for i, text in enumerate(non_empty)]
    assert "".join(deltas) == whole


def test_segments_fold_from_events_in_id_order_once_each() -> None:
    events = [
        ("transcription.started", {"attempt": 1, "worker": "w"}),
        ("transcription.segment_transcribed", SEGMENTS[1].payload()),
        ("transcription.segment_transcribed", SEGMENTS[0].payload()),
        ("transcription.segment_transcribed", {**SEGMENTS[1].payload(), "text": "a duplicate"}),
    ]
    assert transcribed_segments(events) == SEGMENTS


def test_verbose_json_includes_what_was_asked() -> None:
    result = TranscriptionResult(
        text="x", language="en", duration=10.5, segment_count=2, processing_time_ms=5.0, rtf=0.1
    )
    both = verbose_transcript(result, SEGMENTS, granularities=["word", "segment"], diagnostics_key="diag")
    assert both["words"] == [
        {"word": "And", "start": 0.0, "end": 0.3},
        {"word": "ask", "start": 8.1, "end": 8.4},
    ]
    assert both["segments"][1] == {"id": 1, "start": 8.06, "end": 10.5, "text": "ask what you can do."}
    assert both["diag"] == {} and both["duration"] == 10.5 and both["rtf"] == 0.1
    segments_only = verbose_transcript(result, SEGMENTS, granularities=["segment"], diagnostics_key="d")
    assert "words" not in segments_only and len(segments_only["segments"]) == 2
    words_only = verbose_transcript(result, SEGMENTS, granularities=["word"], diagnostics_key="d")
    assert "segments" not in words_only and len(words_only["words"]) == 2


def test_alignment_documents() -> None:
    words = (WordTiming(word="Hello,", start=0.0, end=0.45), WordTiming(word="world", start=0.5, end=0.95))
    result = AlignmentResult(
        alignments=words, duration=1.2, model="M", language="en", word_count=2, processing_time_ms=3.0
    )
    assert alignment_text(words) == "0.000\t0.450\tHello,\n0.500\t0.950\tworld\n"
    assert alignment_json(result, verbose=False) == {
        "alignments": [
            {"word": "Hello,", "start": 0.0, "end": 0.45},
            {"word": "world", "start": 0.5, "end": 0.95},
        ],
        "duration": 1.2,
    }
    verbose = alignment_json(result, verbose=True)
    assert (verbose["model"], verbose["language"], verbose["word_count"]) == ("M", "en", 2)
    assert verbose["processing_time_ms"] == 3.0


@pytest.mark.parametrize(
    ("hint", "code"),
    [
        (None, None),
        ("", None),
        ("auto", None),
        ("English", "en"),
        ("en-US", "en"),
        ("fr", "fr"),
        ("xx", "xx"),
    ],
)
def test_language_hints(hint: str | None, code: str | None) -> None:
    assert language_code(hint) == code


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        (None, []),
        (None, [" Ask not", "  ", " what\nyour  country "]),
        ("", [" Ask"]),
        ("Edited.", [" More", "\t"]),
        ("Kept", []),
        (None, [" ", ""]),
    ],
)
def test_extending_a_transcript_adds_each_segment_as_its_delta(text: str | None, segments: list[str]) -> None:
    expected = text
    for segment in segments:  # one delta at a time, as the transcript grows while a job runs
        if " ".join(segment.split()):
            expected = (expected or "") + text_delta(segment, first=not expected)
    assert extend_transcript(text, segments) == expected
