"""Recordings the tests build from the fixtures, for what jfk.flac alone cannot show on every CPU.

Whisper's numerics differ a little from one CPU to another (int8 kernels): on one jfk.flac is two
segments, on another one. Speech with a long pause in it is several segments on any CPU, because
Whisper decodes the speech on either side of a pause of 2 s or more on its own
(``workers.engines.whisper.SPEECH``).
"""

from __future__ import annotations

import numpy as np

from tests.conftest import JFK, JFK_TEXT
from tests.two_speakers import LEFT_SENTENCE, STEREO
from workers.engines.audio import decode_audio, encode_audio
from workers.engines.base import SAMPLE_RATE, Audio

PAUSE_SECONDS = 3.0
TWO_SENTENCES_TEXT = f"{JFK_TEXT} {LEFT_SENTENCE}"
"""What ``two_sentences`` says."""
TWO_SENTENCES_SECONDS = 19.0
"""How long ``two_sentences`` is: 11 s of JFK, the pause, 5 s of the wizard sentence."""


def seconds(samples: Audio) -> float:
    return samples.size / SAMPLE_RATE


def silence(duration: float) -> Audio:
    return np.zeros(round(duration * SAMPLE_RATE), dtype=np.float32)


def noise(duration: float, level: float = 0.003, seed: int = 0) -> Audio:
    """Low white noise (about -50 dBFS), as a quiet room records it."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(round(duration * SAMPLE_RATE)) * level).astype(np.float32)


def two_sentences() -> Audio:
    """JFK's sentence, a 3 s pause, then the left-hand speaker's sentence of stereo_diarization.wav
    (``TWO_SENTENCES_TEXT``, 19 s): at least two segments on any CPU."""
    return np.concatenate([decode_audio(JFK), silence(PAUSE_SECONDS), decode_audio(STEREO, channel=0)])


def encoded(samples: Audio, fmt: str = "wav") -> bytes:
    return encode_audio(samples, SAMPLE_RATE, fmt)


# --- what the conversation tests ask about -----------------------------------------------------
# Two recordings said by Piper (so their words are known) beside jfk.flac, and the question whose
# answer is in one of them.

SHEILA = (
    "Sheila said the deadline for the budget report moves to next Friday, "
    "and everyone should send her their numbers by Wednesday."
)
WEATHER = "Tomorrow will be sunny in Nairobi, with a light breeze from the east in the afternoon."
QUESTION = "What did Sheila say about the deadline?"
