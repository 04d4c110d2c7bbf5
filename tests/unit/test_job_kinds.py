"""Job kinds are declared once (``domain.kinds``) and every layer reads the declaration."""

from __future__ import annotations

from typing import get_args

import pytest

from app.bootstrap import build_projections
from app.projections.records import RecordProjection
from domain.capabilities import Capability
from domain.catalog import BUILTIN, ROUTE_CAPABILITIES, ModelVariant
from domain.diarization import DIARIZATION, DiarizationParams
from domain.generation import CHAT
from domain.jobs import RECORD_STATUSES, JobStatus
from domain.kinds import KINDS, JobKind, OpenParams
from domain.responses import RESPONSE
from domain.speech import SPEECH, SpeechParams
from domain.transcription import ALIGNMENT, TRANSCRIPTION, TranscriptionParams
from domain.voices import VOICE_TRANSCRIPTION

BUILTIN_KINDS = (TRANSCRIPTION, ALIGNMENT, DIARIZATION, SPEECH, CHAT, RESPONSE, VOICE_TRANSCRIPTION)


def _asr(routes: set[Capability]) -> ModelVariant:
    return ModelVariant(
        id="Only-Some-ASR",
        family="whisper",
        engine="whisper",
        modalities=("audio_input", "text_output"),
        routes=frozenset(routes),
        source="local",
    )


def test_the_built_in_kinds_are_registered_once_each() -> None:
    assert {kind.name for kind in KINDS} >= {kind.name for kind in BUILTIN_KINDS}
    categories = [kind.category for kind in KINDS]
    assert len(categories) == len(set(categories))
    assert CHAT.actor == RESPONSE.actor == "generate_text"


def test_a_category_belongs_to_one_kind() -> None:
    intruder = JobKind(name="intruder", category=TRANSCRIPTION.category, actor="x", params=OpenParams)
    with pytest.raises(ValueError, match="already belongs to transcription"):
        KINDS.register(intruder)
    assert KINDS.of_stream("transcription-abc") is TRANSCRIPTION


def test_capabilities_are_one_enum_the_catalog_reads() -> None:
    assert tuple(Capability) == ROUTE_CAPABILITIES
    whisper = BUILTIN.find("Whisper-Tiny.en")
    assert whisper is not None
    assert whisper.route_capabilities() == {c.value: c in whisper.routes for c in Capability}
    with pytest.raises(ValueError):
        whisper.can("no_such_capability")  # type: ignore[arg-type]


def test_the_route_and_the_worker_ask_the_same_capability_of_a_transcription_model() -> None:
    """A model with only ``speech_to_text_jobs`` passes the record route's check, and the worker's
    check of the same job agrees; the OpenAI route refuses it, and so would its worker."""
    record = TranscriptionParams(audio="a" * 64, model="Only-Some-ASR", record=True)
    plain = TranscriptionParams(audio="a" * 64, model="Only-Some-ASR")
    model = _asr({Capability.SPEECH_TO_TEXT_JOBS})

    route_check = TRANSCRIPTION.required_capability(record=True)
    assert route_check == TRANSCRIPTION.required_capability(record) == Capability.SPEECH_TO_TEXT_JOBS
    assert TRANSCRIPTION.refusal(model, TRANSCRIPTION.required_capability(record)) is None
    assert TRANSCRIPTION.required_capability(plain) == TRANSCRIPTION.capability
    refusal = TRANSCRIPTION.refusal(model, TRANSCRIPTION.required_capability(plain))
    assert refusal == "Model Only-Some-ASR does not support openai_audio_transcriptions."


def test_a_kind_can_ask_for_a_modality_besides_the_capability() -> None:
    diarizer = BUILTIN.find("Resemblyzer")
    assert diarizer is not None and diarizer.can(Capability.SPEECH_TO_TEXT_JOBS)
    refusal = TRANSCRIPTION.refusal(diarizer, Capability.SPEECH_TO_TEXT_JOBS)
    assert refusal is not None and "text_output" in refusal


@pytest.mark.parametrize(
    ("family", "capability"),
    [
        (None, Capability.OPENAI_AUDIO_SPEECH),
        ("text_to_speech", Capability.TEXT_TO_SPEECH_RECORDS),
        ("voice_design", Capability.VOICE_DESIGN_RECORDS),
        ("voice_clone", Capability.VOICE_CLONE_RECORDS),
    ],
)
def test_a_speech_job_needs_its_record_familys_capability(family: str | None, capability: Capability) -> None:
    params = SpeechParams(model="Piper-Joe-Medium", input="Hi.", record=family is not None, family=family)
    assert SPEECH.required_capability(params) == capability


def test_every_record_kind_has_its_projection_and_a_word_for_every_job_status() -> None:
    projections = {projection.name: projection for projection in build_projections().projections}
    for kind in KINDS:
        if kind.record is None:
            continue
        projection = projections[kind.record.projection]
        assert isinstance(projection, RecordProjection)
        assert kind in projection.kinds, f"{projection.name} does not follow {kind.name}"
        assert set(kind.record.statuses) == set(get_args(JobStatus))
    assert DIARIZATION.record_status("running") == "processing"
    assert VOICE_TRANSCRIPTION.record_status("queued") == "processing"
    assert CHAT.record_status("running") == "running"
    assert RECORD_STATUSES["completed"] == "ready"


def test_terminal_events_are_the_kinds_own() -> None:
    assert DIARIZATION.is_terminal("diarization.completed")
    assert not DIARIZATION.is_terminal("transcription.completed")
    assert not DIARIZATION.is_terminal("diarization.cancel_requested")
    assert DiarizationParams.model_fields["record"].default is True


def test_every_route_family_is_served() -> None:
    from app.routes import route_blueprints

    assert {blueprint.name for blueprint in route_blueprints()} == {
        "chat",
        "chat_threads",
        "agent",
        "voice_profile",
        "voice_sessions",
        "responses",
        "events",
        "health",
        "jobs",
        "media",
        "metrics",
        "models",
        "preferences",
        "speech",
        "speech_records",
        "studio",
        "studio_renders",
        "studio_schedules",
        "stt_records",
        "transcriptions",
        "voices",
        "web",
    }
