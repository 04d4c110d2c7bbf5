"""The diarization actor (``diarization-<record id>`` streams): who spoke when in stored audio.

VAD → speaker embeddings → clustering honouring ``min_speakers``/``max_speakers`` → turns, with
``speech_detected``, ``progressed`` (``speech``, ``embeddings``, ``clustering``) and
``speakers_found`` on the way (docs/speech-to-text-records.md). The steps are not resumable
half-way (clustering needs every embedding), so a redelivered job works again from the audio;
its events' deterministic ids keep the stream free of repeats, and a job that already found
its speakers only completes.
"""

from __future__ import annotations

import time
from typing import Any

from domain.catalog import ModelVariant
from domain.diarization import DIARIZATION, DiarizationParams, SpeakersFound, SpeechDetected
from workers.actors import job_actor, job_model, job_params
from workers.audio_windows import seconds, stored_audio_file
from workers.speakers import diarize, recorded_speakers, speaker_bounds, speaker_engine
from workers.summary_jobs import request_record_summary
from workflows.jobs import JobRun

PERCENTS = {"speech": 20.0, "embeddings": 70.0, "clustering": 90.0}


def _diarize(run: JobRun, params: DiarizationParams, variant: ModelVariant) -> tuple[float, SpeakersFound]:
    """The audio's duration and its speakers: found now, or by an earlier attempt of this run."""
    found = recorded_speakers(run)
    detected = run.kind_events(SpeechDetected.verb)
    if found and detected:
        return float(detected[-1].data["duration"]), found
    engine = speaker_engine(variant, "model")
    with stored_audio_file(params.audio) as audio:
        run.checkpoint()
        found = diarize(
            run,
            audio,
            engine,
            min_speakers=params.min_speakers,
            max_speakers=params.max_speakers,
            percents=PERCENTS,
        )
        return audio.duration, found


@job_actor(DIARIZATION)
def diarize_audio(run: JobRun) -> dict[str, Any]:
    started = time.perf_counter()
    params = job_params(DIARIZATION, run)
    variant = job_model(DIARIZATION, params.model, params)
    speaker_bounds(params.min_speakers, params.max_speakers)
    duration, found = _diarize(run, params, variant)
    if params.generate_summary:
        request_record_summary(run)
    elapsed = time.perf_counter() - started
    return {
        "duration": seconds(duration),
        "speaker_count": len(found.speakers),
        "processing_time_ms": round(elapsed * 1000, 1),
        "rtf": round(elapsed / duration, 4) if duration else 0.0,
        "model": variant.id,
    }
