"""The saved-voice transcription actor: the transcript of a voice's reference audio, for a voice
created without one (docs/saved-voices.md). Its result, ``{reference_text, language}``, makes the
voice ready.

The reference is decoded once to a temporary file and transcribed window by window
(``workers.audio_windows``), so a long upload does not grow memory; a redelivered job simply
transcribes it again (references are short, and nothing partial is recorded).
"""

from __future__ import annotations

from typing import Any

from domain.transcription import transcript_text
from domain.voices import VOICE_TRANSCRIPTION, VoiceTranscript
from workers import runtime
from workers.actors import job_actor, job_model, job_params
from workers.audio_windows import speech_spans, stored_audio_file, windows
from workers.engines.base import Audio, CapabilityError, Segment, SpeechToText
from workflows.jobs import JobInputError, JobRun


def _segments(engine: SpeechToText, window: Audio, language: str | None) -> tuple[str, list[Segment]]:
    """The window's segments and the language they are in (the hint, or the one detected)."""
    try:
        info, segments = engine.transcribe(window, language=language)
        return info.language, list(segments)
    except CapabilityError as error:
        raise JobInputError(str(error), param="language") from error


def _no_speech() -> JobInputError:
    return JobInputError(
        "No speech was found in the reference audio: send its transcript as `reference_text`.",
        param="reference_text",
    )


@job_actor(VOICE_TRANSCRIPTION)
def transcribe_voice_reference(run: JobRun) -> dict[str, Any]:
    params = job_params(VOICE_TRANSCRIPTION, run)
    variant = job_model(VOICE_TRANSCRIPTION, params.model, params)
    engine: SpeechToText = runtime.engines().get(variant)
    language = params.language
    found: list[Segment] = []
    with stored_audio_file(params.audio) as audio:
        # Whisper given no speech may still "hear" some: the VAD says first whether there is any.
        if not speech_spans(audio, checkpoint=run.checkpoint):
            raise _no_speech()
        spans = list(windows(audio))
        for index, (first, last) in enumerate(spans, start=1):
            run.checkpoint()
            detected, segments = _segments(engine, audio.read(first, last), language)
            # The first window's language holds for the others.
            language = language or detected
            found.extend(segments)
            if len(spans) > 1:
                run.progress(f"window_{index}", round(100.0 * index / len(spans), 1))
    text = transcript_text(found)
    if not text:
        raise _no_speech()
    return VoiceTranscript(reference_text=text, language=language).model_dump(mode="json")
