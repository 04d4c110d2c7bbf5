"""The speech check actor: ask the engine that will speak each voice whether it can (nothing is
synthesized: engines check a voice before the first chunk is asked for)."""

from __future__ import annotations

from typing import Any

from domain.speech import SpeechParams
from domain.speech_checks import SPEECH_CHECK
from workers.actors import job_actor, job_model, job_params
from workers.speech_jobs import Synthesis, speech_engine
from workflows.jobs import JobInputError, JobRun


@job_actor(SPEECH_CHECK)
def check_speech(run: JobRun) -> dict[str, Any]:
    params = job_params(SPEECH_CHECK, run)
    for wanted in params.voices:
        variant = job_model(SPEECH_CHECK, wanted.model, params, param=wanted.param.replace("voice", "model"))
        synthesis = Synthesis(
            speech_engine(variant), variant, SpeechParams(model=variant.id, input="-", voice=wanted.voice)
        )
        try:
            synthesis.check()
        except JobInputError as error:
            raise JobInputError(str(error), param=wanted.param) from error
    return {"checked": len(params.voices)}
