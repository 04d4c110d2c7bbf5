"""Speaker-attributed transcripts: diarize first, then transcribe each speaker's speech on its own.

Where two people talk at once, a single-stream ASR model writes a blend of both sentences, and
its word times cannot untangle whose word is whose. Decoding one speaker's stretch at a time
keeps each sentence whole where one voice dominates, and makes every segment's speaker known by
construction instead of guessed from word times.

``speaker_pieces`` turns diarization turns into what to decode: in time order, never
overlapping, a speaker's consecutive turns joined across short pauses (each piece decoded costs
at least one pass of the model, so fewer, longer pieces are faster). ``speaker_transcript``
folds the decoded segments back into speaker turns with their text. Pure: no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Protocol

from domain.diarization import SpeakerTurnData
from domain.transcription import SegmentTranscribed

JOIN_PAUSE_S = 2.0
"""A speaker's turns this close together (no one else speaking between them) are decoded as one."""


class Turn(Protocol):
    @property
    def speaker(self) -> str: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


def speaker_pieces(turns: Iterable[Turn], *, join_pause_s: float = JOIN_PAUSE_S) -> list[SpeakerTurnData]:
    """The stretches to transcribe, one speaker each.

    Where turns overlap (a pipeline such as pyannote reports overlapped speech), each instant goes
    to the turn that began last, so an interjection inside a long turn is decoded on its own and
    the long turn resumes after it.
    """
    ordered = sorted(turns, key=lambda turn: (turn.start, turn.end))
    bounds = sorted({time for turn in ordered for time in (turn.start, turn.end)})
    pieces: list[SpeakerTurnData] = []
    active: list[Turn] = []
    upcoming = iter(ordered)
    following = next(upcoming, None)
    for left, right in itertools.pairwise(bounds):
        while following is not None and following.start <= left:
            active.append(following)
            following = next(upcoming, None)
        active = [turn for turn in active if turn.end > left]
        if not active:
            continue
        speaker = max(active, key=lambda turn: turn.start).speaker
        last = pieces[-1] if pieces else None
        if last is not None and last.speaker == speaker and left - last.end <= join_pause_s:
            pieces[-1] = SpeakerTurnData(speaker=speaker, start=last.start, end=right)
        else:
            pieces.append(SpeakerTurnData(speaker=speaker, start=left, end=right))
    return pieces


def speaker_transcript(
    speakers: Sequence[str], segments: Iterable[SegmentTranscribed]
) -> tuple[list[str], list[SpeakerTurnData]]:
    """The speakers and the transcript's turns ``{speaker, start, end, text}``.

    Consecutive segments of one speaker form one turn. ``speakers`` (as the diarization named
    them) is kept whole, so the labels of turns, segments and speakers always agree; a speaker
    who said nothing transcribable has no turn. Segments without text or speaker are left out.
    """
    turns: list[SpeakerTurnData] = []
    said = (s for s in segments if s.speaker is not None and " ".join(s.text.split()))
    for speaker, grouped in itertools.groupby(said, key=lambda segment: segment.speaker):
        run = list(grouped)
        turns.append(
            SpeakerTurnData(
                speaker=str(speaker),
                start=run[0].start,
                end=max(segment.end for segment in run),
                text=" ".join(" ".join(segment.text.split()) for segment in run),
            )
        )
    return list(dict.fromkeys([*speakers, *(turn.speaker for turn in turns)])), turns
