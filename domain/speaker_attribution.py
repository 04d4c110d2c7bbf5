"""Speaker-attributed transcripts: diarization turns merged with the transcript's timed words.

Each word goes to the speaker whose turns overlap it most; a word that no turn overlaps (spoken
in a pause the diarizer left out) goes to the nearest turn. Consecutive words of one speaker
form one turn, and speakers are renamed SPEAKER_00, SPEAKER_01… in order of first appearance
among the words, so a diarized speaker who said nothing transcribable is left out.
Pure: no I/O.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.diarization import SpeakerTurnData
from domain.transcription import SegmentTranscribed


class Turn(Protocol):
    @property
    def speaker(self) -> str: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


@dataclass(frozen=True)
class TimedWord:
    text: str
    start: float
    end: float


def transcript_words(segments: Iterable[SegmentTranscribed]) -> list[TimedWord]:
    """The words of the segments; a segment without word times counts as one long word."""
    words: list[TimedWord] = []
    for segment in segments:
        if segment.words:
            words.extend(TimedWord(w.word, w.start, w.end) for w in segment.words if w.word.strip())
        elif segment.text.strip():
            words.append(TimedWord(" ".join(segment.text.split()), segment.start, segment.end))
    return words


def speaker_label(index: int) -> str:
    return f"SPEAKER_{index:02d}"


class _TurnIndex:
    """Turns sorted by start, to find the few that can overlap a word without scanning them all."""

    def __init__(self, turns: Iterable[Turn]) -> None:
        self.turns = sorted(turns, key=lambda turn: (turn.start, turn.end))
        self.starts = [turn.start for turn in self.turns]
        # For each i, the turn that ends last among the first i + 1: every turn before the first
        # whose ``reach`` passes a word's start ended before the word began.
        self.latest: list[int] = []
        for position, turn in enumerate(self.turns):
            later = not self.latest or turn.end > self.turns[self.latest[-1]].end
            self.latest.append(position if later else self.latest[-1])
        self.reach = [self.turns[position].end for position in self.latest]

    def speaker_of(self, word: TimedWord) -> str:
        low = bisect.bisect_right(self.reach, word.start)
        high = bisect.bisect_left(self.starts, word.end)
        overlaps: dict[str, float] = {}
        for turn in self.turns[low:high]:
            overlap = min(word.end, turn.end) - max(word.start, turn.start)
            if overlap > 0:
                overlaps[turn.speaker] = overlaps.get(turn.speaker, 0.0) + overlap
        if overlaps:
            return max(overlaps, key=lambda speaker: overlaps[speaker])
        # No overlap (a pause the diarizer left out, or an instant): the nearest turn, the
        # earlier of two equally near.
        candidates = [
            *([self.turns[self.latest[low - 1]]] if low > 0 else []),
            *self.turns[low:high],
            *self.turns[high : high + 1],
        ]
        return min(
            candidates, key=lambda turn: max(turn.start - word.end, word.start - turn.end, 0.0)
        ).speaker


def attribute_speakers(
    turns: Sequence[Turn], words: Sequence[TimedWord]
) -> tuple[list[str], list[SpeakerTurnData]]:
    """The speakers and the speaker-labelled transcript turns ``{speaker, start, end, text}``.

    Without diarization turns (no speech found) every word is one speaker's.
    """
    index = _TurnIndex(turns) if turns else None
    names: dict[str, str] = {}
    result: list[SpeakerTurnData] = []
    for speaker, run in itertools.groupby(
        words, key=lambda word: index.speaker_of(word) if index else speaker_label(0)
    ):
        said = list(run)
        name = names.setdefault(speaker, speaker_label(len(names)))
        result.append(
            SpeakerTurnData(
                speaker=name,
                start=said[0].start,
                end=max(word.end for word in said),
                text=" ".join(word.text.strip() for word in said),
            )
        )
    return list(names.values()), result
