"""Speech-to-text records, the pure parts: job kinds, edits, the record's JSON, the create form's
checks and the removed routes' successors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.http.uploads import audio_content_type
from app.routes.stt_records.removed import current_route
from app.routes.stt_records.requests import model_field, refuse_saa_options
from domain.fields import FieldError
from domain.stt_records import (
    SAA,
    RecordDeleted,
    RecordUpdated,
    job_kind,
    job_of,
    merge_labels,
    progress_milestone,
    record_json,
    record_update,
    segment_progress,
)


@pytest.mark.parametrize(
    ("value", "allow_all", "expected"),
    [
        ("transcription", False, "transcription"),
        ("saa", False, "speaker_attributed_asr"),
        ("speaker_attributed_asr", True, "speaker_attributed_asr"),
        (" diarization ", False, "diarization"),
        ("all", True, None),
        (None, True, None),
        ("", False, None),
    ],
)
def test_job_kinds_are_normalised(value: str | None, allow_all: bool, expected: str | None) -> None:
    assert job_kind(value, allow_all=allow_all) == expected


@pytest.mark.parametrize(("value", "allow_all"), [("all", False), ("tts", True), (3, True)])
def test_unknown_job_kinds_name_the_field(value: object, allow_all: bool) -> None:
    with pytest.raises(FieldError) as raised:
        job_kind(value, allow_all=allow_all)
    assert raised.value.param == "job_kind"


def test_each_kind_has_its_stream_category_and_actor() -> None:
    assert [job_of(k).category for k in ("transcription", "speaker_attributed_asr", "diarization")] == [
        "transcription",
        "transcription",
        "diarization",
    ]
    assert job_of("speaker_attributed_asr").actor == "transcribe_audio"
    assert job_of("diarization").actor == "diarize_audio"


# --- edits ------------------------------------------------------------------------------


def test_an_edit_records_only_the_fields_given() -> None:
    edit = record_update({"title": "  Standup  ", "summary": None}, "transcription", [])
    assert edit.payload() == {"title": "Standup", "summary": None}
    assert RecordUpdated.type_for("transcription") == "transcription.record_updated"
    assert RecordDeleted().payload() == {}
    assert RecordDeleted.type_for("diarization") == "diarization.record_deleted"


def test_speaker_labels_are_checked_against_the_record_speakers() -> None:
    edit = record_update(
        {"speaker_labels": {"SPEAKER_00": " Alice ", "SPEAKER_01": ""}},
        "diarization",
        ["SPEAKER_00", "SPEAKER_01"],
    )
    assert edit.speaker_labels == {"SPEAKER_00": "Alice", "SPEAKER_01": None}
    with pytest.raises(FieldError, match="Unknown speaker 'SPEAKER_07'"):
        record_update({"speaker_labels": {"SPEAKER_07": "Bob"}}, "diarization", ["SPEAKER_00"])
    for bad in (["Alice"], {"SPEAKER_00": 3}, {"SPEAKER_00": "x" * 101}):
        with pytest.raises(FieldError) as raised:
            record_update({"speaker_labels": bad}, "speaker_attributed_asr", ["SPEAKER_00"])
        assert raised.value.param == "speaker_labels"


@pytest.mark.parametrize(
    ("body", "kind", "param"),
    [
        ({"speaker_labels": {}}, "transcription", "speaker_labels"),
        ({"text": "words"}, "diarization", "text"),
        ({"processing_status": "ready"}, "transcription", "processing_status"),
        ({}, "transcription", "title"),
        ({"text": None}, "transcription", "text"),
        ({"title": 5}, "diarization", "title"),
        ({"title": "t" * 501}, "diarization", "title"),
    ],
)
def test_edits_a_kind_does_not_allow_are_refused(body: dict[str, Any], kind: str, param: str) -> None:
    with pytest.raises(FieldError) as raised:
        record_update(body, kind, ["SPEAKER_00"])
    assert raised.value.param == param


def test_labels_merge_and_a_null_label_removes_one() -> None:
    labels = merge_labels({"SPEAKER_01": "Bob", "SPEAKER_00": "Al"}, {"SPEAKER_00": "Alice"})
    assert labels == {"SPEAKER_00": "Alice", "SPEAKER_01": "Bob"}
    assert merge_labels(labels, {"SPEAKER_01": None, "SPEAKER_02": None}) == {"SPEAKER_00": "Alice"}


# --- the record's JSON ------------------------------------------------------------------


def _row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "stream_id": "transcription-r1",
        "id": "r1",
        "job_kind": "speaker_attributed_asr",
        "processing_status": "ready",
        "progress": 100.0,
        "stage": None,
        "run": 1,
        "created_at": 1000.7,
        "updated_at": 1010.2,
        "completed_at": 1010.2,
        "created_position": 3,
        "last_position": 9,
        "audio": "a" * 64,
        "filename": "talk.wav",
        "content_type": "audio/wav",
        "title": "Talk",
        "model": "Whisper-Tiny.en",
        "diarization_model": "Resemblyzer",
        "language": "en",
        "min_speakers": None,
        "max_speakers": 2,
        "generate_summary": False,
        "duration": 6.0,
        "text": "Hello there. Hi.",
        "segments": json.dumps(
            [
                {
                    "id": 0,
                    "start": 0.0,
                    "end": 2.5,
                    "text": " Hello there.",
                    "words": [],
                    "speaker": "SPEAKER_00",
                },
                {"id": 1, "start": 3.0, "end": 5.0, "text": " Hi.", "words": [], "speaker": "SPEAKER_01"},
            ]
        ),
        "speakers": json.dumps(["SPEAKER_00", "SPEAKER_01"]),
        "speaker_labels": json.dumps({"SPEAKER_01": "Bob"}),
        "speaker_turns": json.dumps(
            [
                {"speaker": "SPEAKER_00", "start": 0.0, "end": 2.6, "text": "Hello there."},
                {"speaker": "SPEAKER_01", "start": 2.8, "end": 5.0, "text": "Hi."},
            ]
        ),
        "summary": None,
        "summary_status": "none",
        "summary_id": None,
        "summary_model": None,
        "summary_error": None,
        "error": None,
        "result": json.dumps({"processing_time_ms": 120.0, "rtf": 0.02, "text": "Hello there. Hi."}),
    }
    row.update(values)
    return row


def test_the_record_json_applies_speaker_labels_to_turns_and_segments() -> None:
    record = record_json(_row(), object_name="speech_to_text.job", base_url="/v1/speech-to-text/jobs")
    assert record["id"] == "r1" and record["object"] == "speech_to_text.job"
    assert record["created_at"] == 1000 and record["processing_time_ms"] == 120.0
    assert record["audio_url"] == "/v1/speech-to-text/jobs/r1/audio"
    assert record["speakers"] == ["SPEAKER_00", "SPEAKER_01"] and record["speaker_count"] == 2
    assert [(t["speaker"], t["speaker_id"], t["text"]) for t in record["speaker_turns"]] == [
        ("SPEAKER_00", "SPEAKER_00", "Hello there."),
        ("Bob", "SPEAKER_01", "Hi."),
    ]
    assert [(s["speaker"], s["speaker_id"]) for s in record["segments"]] == [
        ("SPEAKER_00", "SPEAKER_00"),
        ("Bob", "SPEAKER_01"),
    ]


def test_a_diarization_record_has_turns_without_text_and_no_transcript() -> None:
    turns = [{"speaker": "SPEAKER_00", "start": 0.0, "end": 1.0}]
    row = _row(job_kind="diarization", text=None, segments="[]", speaker_turns=json.dumps(turns))
    record = record_json(row, object_name="diarization", base_url="/v1/diarizations")
    assert record["text"] is None and record["segments"] == []
    assert record["speaker_turns"] == [
        {"speaker": "SPEAKER_00", "start": 0.0, "end": 1.0, "speaker_id": "SPEAKER_00"}
    ]
    assert record["events_url"] == "/v1/diarizations/r1/events"


def test_a_list_item_leaves_out_segments_and_turns() -> None:
    row = _row()
    del row["segments"], row["speaker_turns"]
    record = record_json(row, object_name="speech_to_text.job", base_url="/x", full=False)
    assert "segments" not in record and "speaker_turns" not in record
    assert record["text"] == "Hello there. Hi."


# --- creating a record ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"stream": "true"}, "stream"),
        ({"stream": True}, "stream"),
        ({"include_timestamps": "1"}, "include_timestamps"),
        ({"timestamp_granularities": ["word"]}, "timestamp_granularities"),
        ({"aligner_model": "PocketSphinx-en-us"}, "aligner_model"),
    ],
)
def test_speaker_attributed_asr_refuses_streaming_and_timestamp_options(
    fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(FieldError) as raised:
        refuse_saa_options(fields)
    assert raised.value.param == param


def test_blank_or_false_options_are_no_request() -> None:
    refuse_saa_options({"stream": "false", "include_timestamps": False, "aligner_model": "", "x": "y"})


def test_model_id_wins_over_model() -> None:
    assert model_field({"model": "A", "model_id": "B"}) == ("model_id", "B")
    assert model_field({"model": "A", "model_id": ""}) == ("model", "A")
    assert model_field({}) == ("model", None)


@pytest.mark.parametrize(
    ("data", "declared", "filename", "expected"),
    [
        (b"fLaC\x00\x00", None, None, "audio/flac"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", "application/octet-stream", "x.bin", "audio/wav"),
        (b"ID3\x04", None, None, "audio/mpeg"),
        (b"\x00\x00\x00\x20ftypM4A ", None, None, "audio/mp4"),
        (b"OggS\x00", None, None, "audio/ogg"),
        (b"\x1a\x45\xdf\xa3", None, None, "audio/webm"),
        (b"????", "audio/x-custom", "a.mp3", "audio/x-custom"),
        (b"????", "application/octet-stream", "a.mp3", "audio/mpeg"),
        (b"????", None, None, "application/octet-stream"),
    ],
)
def test_the_stored_audio_type_comes_from_its_bytes_then_the_client(
    data: bytes, declared: str | None, filename: str | None, expected: str
) -> None:
    assert audio_content_type(data, declared, filename) == expected


# --- removed routes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/v1/transcriptions", "/v1/speech-to-text/jobs?job_kind=transcription"),
        ("/v1/transcriptions/abc", "/v1/speech-to-text/jobs/abc?job_kind=transcription"),
        (
            "/v1/transcriptions/abc/summary/regenerate",
            "/v1/speech-to-text/jobs/abc/summary/regenerate?job_kind=transcription",
        ),
        ("/v1/transcriptions/jobs", "/v1/speech-to-text/jobs"),
        ("/v1/transcription/realtime/ws", "/v1/speech-to-text/realtime/ws"),
        ("/v1/audio/diarize", "/v1/speech-to-text/jobs?job_kind=diarization"),
        ("/v1/audio/diarizations", "/v1/speech-to-text/jobs?job_kind=diarization"),
        ("/v1/text-to-speech-generations/r9/audio", "/v1/text-to-speech/r9/audio"),
        ("/v1/voice-design-generations", "/v1/voice-designs"),
        ("/v1/voice-clone-generations", "/v1/voice-clones"),
        ("/v1/transcriptionsx", None),
        ("/v1/speech-to-text/jobs", None),
    ],
)
def test_removed_routes_name_their_successor(path: str, current: str | None) -> None:
    assert current_route(path) == current


def test_segment_ends_measure_progress_short_of_done() -> None:
    assert segment_progress("transcription", 15.0, 60.0) == 25.0
    assert segment_progress("transcription", 60.0, 60.0) == 99.0  # completing the job is 100
    assert segment_progress(SAA, 0.0, 60.0) == 25.0  # diarization took it this far
    assert segment_progress(SAA, 30.0, 60.0) == 62.5
    assert segment_progress("transcription", 3.0, 0.0) == 0.0  # no duration known: no guess
    assert [progress_milestone(p) for p in (0.0, 4.9, 5.0, 62.5, 99.0)] == [0, 0, 5, 60, 95]
