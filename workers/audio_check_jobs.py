"""The audio check actor: decode a stored clip in bounded memory and report how long it plays."""

from __future__ import annotations

from typing import Any

from domain.audio_checks import AUDIO_CHECK, AudioCheckResult
from workers.actors import job_actor, job_params
from workers.audio_windows import stored_audio_path
from workers.engines.audio import AudioDecodeError, iter_decoded
from workers.engines.base import SAMPLE_RATE
from workflows.jobs import JobInputError, JobRun


def audio_seconds(path: str) -> float:
    """How long the audio plays (decoded in chunks, never whole); ``AudioDecodeError`` when it is
    not audio FFmpeg can decode."""
    samples = sum(chunk.size for chunk in iter_decoded(path, SAMPLE_RATE))
    return round(samples / SAMPLE_RATE, 3)


@job_actor(AUDIO_CHECK)
def check_audio(run: JobRun) -> dict[str, Any]:
    params = job_params(AUDIO_CHECK, run)
    path = stored_audio_path(params.media_digest)
    try:
        duration = audio_seconds(str(path))
    except AudioDecodeError as error:
        raise JobInputError(f"The reference audio is not usable: {error}.", param=params.field) from error
    return AudioCheckResult(duration_secs=duration).model_dump()
