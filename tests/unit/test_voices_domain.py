"""Saved voices, the pure parts: a create request's fields, the events and what media they claim,
and the voice's JSON."""

from __future__ import annotations

import pytest

from domain.fields import FieldError
from domain.jobs import JobRequested
from domain.media_refs import claimed_media, releases_media
from domain.voices import (
    MAX_NAME_CHARS,
    VoiceDeleted,
    VoiceSaved,
    VoiceTranscript,
    VoiceTranscriptionParams,
    voice_json,
    voice_request,
)

DIGEST = "c" * 64
FIELDS = {"name": "Ada", "audio": DIGEST, "content_type": "audio/wav", "duration_secs": 3.5}


def test_a_request_needs_a_name_and_keeps_its_fields_stripped() -> None:
    request = voice_request(
        {"name": "  Ada ", "reference_text": " Hello there. ", "language": "English", "description": ""}
    )
    assert (request.name, request.reference_text, request.language) == ("Ada", "Hello there.", "en")
    assert request.description is None and request.source_record_id is None
    assert request.source_family is None
    for body in ({}, {"name": "   "}, {"name": None}):
        with pytest.raises(FieldError) as missing:
            voice_request(body)
        assert missing.value.param == "name"
    with pytest.raises(FieldError) as wrong_type:
        voice_request({"name": 7})
    assert wrong_type.value.param == "name"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "x" * (MAX_NAME_CHARS + 1)}, "name"),
        ({"name": "Ada", "description": "d" * 2001}, "description"),
        ({"name": "Ada", "reference_text": "w " * 5001}, "reference_text"),
        ({"name": "Ada", "source_family": "voice-clones"}, "source_family"),
        ({"name": "Ada", "source_record_id": "r1", "source_family": "studio"}, "source_family"),
    ],
)
def test_refused_fields_name_themselves(body: dict[str, object], param: str) -> None:
    with pytest.raises(FieldError) as refused:
        voice_request(body)
    assert refused.value.param == param


def test_a_record_source_defaults_to_text_to_speech() -> None:
    assert voice_request({"name": "Ada", "source_record_id": " r1 "}).source_family == "text-to-speech"
    request = voice_request({"name": "Ada", "source_record_id": "r1", "source_family": "voice-designs"})
    assert (request.source_record_id, request.source_family) == ("r1", "voice-designs")


def test_events_are_typed_and_claim_the_reference_audio() -> None:
    saved = VoiceSaved.model_validate({**FIELDS, "voice_id": "v1", "reference_text": "Hello."})
    assert saved.type_for("voice") == "voice.saved"
    assert claimed_media("voice.saved", saved.payload()) == [DIGEST]
    params = VoiceTranscriptionParams.model_validate({**FIELDS, "model": "Whisper-Tiny.en"})
    requested = JobRequested(job_id="v1", params=params.model_dump(mode="json"))
    assert claimed_media("voice.requested", requested.payload()) == [DIGEST]
    assert claimed_media("voice.completed", {"result": {"reference_text": "Hello."}}) == []
    assert releases_media(VoiceDeleted.type_for("voice"))
    assert VoiceTranscript.model_validate({"reference_text": "Hi", "language": "en"}).language == "en"


def test_the_voice_json_comes_from_its_row() -> None:
    row = {
        **FIELDS,
        "stream_id": "voice-v1",
        "id": "v1",
        "description": None,
        "status": "ready",
        "reference_text": "Hello.",
        "language": "en",
        "filename": "ada.wav",
        "source": "upload",
        "source_family": None,
        "source_record_id": None,
        "transcription_model": None,
        "error": None,
        "created_at": 1760000000.7,
        "updated_at": 1760000001.2,
        "created_position": 3,
        "last_position": 3,
    }
    voice = voice_json(row)
    assert voice["object"] == "voice" and voice["id"] == "v1"
    assert voice["audio_url"] == "/v1/voices/v1/audio" and voice["audio_sha256"] == DIGEST
    assert (voice["created_at"], voice["updated_at"]) == (1760000000, 1760000001)
    assert (voice["duration_secs"], voice["content_type"], voice["status"]) == (3.5, "audio/wav", "ready")
    assert "stream_id" not in voice and "created_position" not in voice
