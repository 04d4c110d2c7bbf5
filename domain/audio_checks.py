"""Audio checks (``audiocheck-<id>`` streams): a worker decodes a stored clip before a stream
claims it, so that the web process never runs FFmpeg. The result is the clip's length; audio that
cannot be decoded fails the check as an input error naming the request field that carried it.

A saved voice's upload is checked this way (docs/saved-voices.md). The clip's digest is not a
claim (``media_digest``, not ``audio``): the stream that keeps the clip claims it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from domain.kinds import JobKind, declare

CATEGORY = "audiocheck"
ACTOR = "check_audio"


class AudioCheckParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    media_digest: str
    field: str = "audio"
    """The request field that carried the clip, named by a refusal."""


class AudioCheckResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    duration_secs: float


AUDIO_CHECK: JobKind[AudioCheckParams] = declare(
    JobKind(
        name="audio_check",
        category=CATEGORY,
        actor=ACTOR,
        params=AudioCheckParams,
        result=AudioCheckResult,
    )
)
