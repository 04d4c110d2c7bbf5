"""What speech generation needs from a saved voice (``saved_voice_id`` on /v1/audio/speech and the
speech-record create routes): its reference audio and the transcript of it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.bootstrap import Container
from app.http.errors import ApiError
from app.projections.saved_voice_queries import find_voice
from domain.voices import READY

PARAM = "saved_voice_id"


@dataclass(frozen=True)
class SavedVoiceReference:
    audio: str
    """The reference audio's media digest."""
    text: str
    """The transcript of the reference audio."""


async def saved_voice_reference(container: Container, voice_id: str) -> SavedVoiceReference:
    """The saved voice's reference: 404 for an unknown or deleted voice, 400 for one that is not
    ready (its transcript is still being found, or finding it failed)."""
    row = await asyncio.to_thread(find_voice, container.engine, voice_id)
    if row is None:
        raise ApiError(404, f"No saved voice {voice_id!r}: create one with POST /v1/voices.", param=PARAM)
    if row["status"] != READY or not row["reference_text"]:
        raise ApiError(
            400,
            f"Saved voice {voice_id!r} is {row['status']}, not ready: it cannot be used yet.",
            param=PARAM,
        )
    return SavedVoiceReference(audio=row["audio"], text=row["reference_text"])
