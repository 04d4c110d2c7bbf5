"""Speech checks (``speechcheck-<id>`` streams): before a Studio project keeps a voice, a worker
asks the engine that will speak it whether it can, so that an unknown voice is a 400 naming the
field when it is sent, not a render that fails later. The web process never loads a TTS engine.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from domain.capabilities import Capability
from domain.kinds import JobKind, declare

CATEGORY = "speechcheck"
ACTOR = "check_speech"


class VoiceToCheck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    voice: str
    param: str = "voice"
    """The request field that named the voice, named by a refusal."""


class SpeechCheckParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    voices: tuple[VoiceToCheck, ...]


SPEECH_CHECK: JobKind[SpeechCheckParams] = declare(
    JobKind(
        name="speech_check",
        category=CATEGORY,
        actor=ACTOR,
        params=SpeechCheckParams,
        capability=Capability.STUDIO_PROJECTS,
    )
)
