"""The forced-alignment actor: word start and end times for a known text spoken in stored audio.

One step (alignment takes a fraction of real time), so a redelivered job simply aligns again;
the completed result holds the words.
"""

from __future__ import annotations

import time
from typing import Any

from domain.transcription import ALIGNMENT, AlignmentResult, language_code
from workers import runtime
from workers.actors import job_actor, job_model, job_params
from workers.engines.base import SAMPLE_RATE, ForcedAligner
from workers.transcription_jobs import (
    seconds,
    stored_audio,
    word_timing,
)
from workflows.jobs import JobInputError, JobRun

# Languages an aligner engine's acoustic model and dictionary cover (PocketSphinx ships en-us).
ENGINE_LANGUAGES: dict[str, tuple[str, ...]] = {"pocketsphinx": ("en",)}


@job_actor(ALIGNMENT)
def align_audio(run: JobRun) -> dict[str, Any]:
    started = time.perf_counter()
    params = job_params(ALIGNMENT, run)
    variant = job_model(ALIGNMENT, params.model, params)
    language = language_code(params.language)
    supported = ENGINE_LANGUAGES.get(variant.engine)
    if language is not None and supported is not None and language not in supported:
        raise JobInputError(
            f"Model {variant.id} aligns {', '.join(supported)} only, not {params.language!r}.",
            param="language",
        )
    if not params.text.split():
        raise JobInputError("The text to align has no words.", param="text")
    audio = stored_audio(params.audio)
    aligner: ForcedAligner = runtime.engines().get(variant)
    run.checkpoint()
    words = tuple(word_timing(word, 0.0) for word in aligner.align(audio, params.text))
    result = AlignmentResult(
        alignments=words,
        duration=seconds(audio.size / SAMPLE_RATE),
        model=variant.id,
        language=language,
        word_count=len(words),
        processing_time_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return result.model_dump(mode="json")
