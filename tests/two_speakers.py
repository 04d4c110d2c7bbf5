"""``stereo_diarization.wav``: one speaker a channel, and their sentences overlap.

The right-hand speaker says "The horizon seems extremely distant." from 0.3 s to 2.7 s while the
left-hand one says "He began a confused complaint…" from 0.2 s to the end (5.0 s), so in the mono
mix one sentence lies inside the other.

Whether each sentence went to one speaker is judged by its distinctive words: words of four
letters or more that the other sentence lacks. Short words ("he", "the", "on") are left out
because a small ASR model confuses them across the two voices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from tests.conftest import FIXTURES
from tests.wer import normalize
from workers.engines.audio import decode_audio
from workers.engines.base import SAMPLE_RATE

STEREO = FIXTURES / "audio" / "stereo_diarization.wav"
LEFT_SENTENCE = (
    "He began a confused complaint against the wizard, who had vanished behind the curtain on the left."
)
RIGHT_SENTENCE = "The horizon seems extremely distant."
SENTENCES = (LEFT_SENTENCE, RIGHT_SENTENCE)
RIGHT_SPEECH = (0.3, 2.7)
"""Where the right-hand speaker talks; the left-hand one goes on alone after it."""
TURN_PAUSE_SECONDS = 0.8


def turn_taking() -> np.ndarray:
    """The two speakers one after the other: the right-hand sentence, a pause, then the left-hand
    one (mono, 16 kHz, about 8.5 s). Who said what here does not hang on how one CPU's numerics
    split a blend of two voices, as it does in the overlapping mix."""
    right = decode_audio(STEREO, channel=1)[: round(2.9 * SAMPLE_RATE)]
    pause = np.zeros(round(TURN_PAUSE_SECONDS * SAMPLE_RATE), dtype=np.float32)
    return np.concatenate([right, pause, decode_audio(STEREO, channel=0)]).astype(np.float32)


def distinctive_words(sentence: str) -> set[str]:
    others = {word for other in SENTENCES if other != sentence for word in normalize(other)}
    return {word for word in normalize(sentence) if len(word) >= 4 and word not in others}


def sentence_speakers(turns: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """For each reference sentence, its distinctive words that each speaker's turns hold
    (``turns``: ``{speaker, text}`` mappings, as records and events give them)."""
    said: dict[str, set[str]] = {}
    for turn in turns:
        said.setdefault(turn["speaker"], set()).update(normalize(turn.get("text") or ""))
    return {
        sentence: {
            speaker: found
            for speaker, words in said.items()
            if (found := words & distinctive_words(sentence))
        }
        for sentence in SENTENCES
    }


def assert_each_sentence_has_one_speaker(turns: Iterable[Mapping[str, Any]], *, least_words: int = 3) -> None:
    """Each sentence's recognised distinctive words (at least ``least_words``) are all one
    speaker's, and the two sentences are two speakers'."""
    by_sentence = sentence_speakers(turns)
    owners = []
    for sentence, speakers in by_sentence.items():
        assert len(speakers) == 1, (sentence, by_sentence)
        ((owner, words),) = speakers.items()
        assert len(words) >= least_words, (sentence, by_sentence)
        owners.append(owner)
    assert len(set(owners)) == 2, by_sentence
