"""Speaker-attributed ASR's pure parts: the stretches decoded one speaker at a time, and the
transcript turns folded back from the speaker-labelled segments."""

from __future__ import annotations

import itertools

from domain.diarization import SpeakerTurnData
from domain.speaker_attribution import speaker_pieces, speaker_transcript
from domain.transcription import SegmentTranscribed


def turn(speaker: str, start: float, end: float) -> SpeakerTurnData:
    return SpeakerTurnData(speaker=speaker, start=start, end=end)


def spans(pieces: list[SpeakerTurnData]) -> list[tuple[str, float, float]]:
    return [(piece.speaker, piece.start, piece.end) for piece in pieces]


def segment(id: int, start: float, end: float, text: str, speaker: str | None) -> SegmentTranscribed:
    return SegmentTranscribed(id=id, start=start, end=end, text=text, speaker=speaker)


# --- speaker_pieces -----------------------------------------------------------------------


def test_turns_in_turn_are_pieces_of_their_own() -> None:
    turns = [turn("A", 0.0, 2.0), turn("B", 2.0, 4.0), turn("A", 4.5, 6.0)]
    assert spans(speaker_pieces(turns)) == [("A", 0.0, 2.0), ("B", 2.0, 4.0), ("A", 4.5, 6.0)]


def test_a_speakers_turns_join_across_a_short_pause_only() -> None:
    turns = [turn("A", 0.0, 1.0), turn("A", 2.5, 3.0), turn("A", 6.0, 7.0)]
    assert spans(speaker_pieces(turns, join_pause_s=2.0)) == [("A", 0.0, 3.0), ("A", 6.0, 7.0)]


def test_turns_of_another_speaker_in_between_are_never_joined_over() -> None:
    turns = [turn("A", 0.0, 1.0), turn("B", 1.2, 1.5), turn("A", 1.6, 3.0)]
    assert spans(speaker_pieces(turns)) == [("A", 0.0, 1.0), ("B", 1.2, 1.5), ("A", 1.6, 3.0)]


def test_an_overlapping_turn_takes_its_span_from_the_turn_it_interrupts() -> None:
    turns = [turn("A", 0.0, 5.0), turn("B", 1.0, 2.0)]
    assert spans(speaker_pieces(turns)) == [("A", 0.0, 1.0), ("B", 1.0, 2.0), ("A", 2.0, 5.0)]


def test_a_turn_that_outlasts_the_one_it_overlaps_goes_on_after_it() -> None:
    turns = [turn("B", 1.0, 3.0), turn("A", 0.0, 2.0)]
    assert spans(speaker_pieces(turns)) == [("A", 0.0, 1.0), ("B", 1.0, 3.0)]


def test_no_turns_no_pieces() -> None:
    assert speaker_pieces([]) == []


def test_pieces_never_overlap_and_cover_every_turn() -> None:
    turns = [turn("A", 0.0, 4.0), turn("B", 3.0, 6.0), turn("C", 3.5, 3.8), turn("A", 5.5, 9.0)]
    pieces = speaker_pieces(turns, join_pause_s=0.0)
    assert all(a.end <= b.start for a, b in itertools.pairwise(pieces))
    covered = sum(piece.end - piece.start for piece in pieces)
    assert covered == 9.0


# --- speaker_transcript -------------------------------------------------------------------


def test_consecutive_segments_of_one_speaker_form_one_turn() -> None:
    segments = [
        segment(0, 0.1, 1.0, " Hello there.", "SPEAKER_00"),
        segment(1, 1.1, 1.8, " How are you?", "SPEAKER_00"),
        segment(2, 2.2, 2.6, " Fine!", "SPEAKER_01"),
        segment(3, 4.5, 5.0, " Bye", "SPEAKER_00"),
    ]
    speakers, turns = speaker_transcript(["SPEAKER_00", "SPEAKER_01"], segments)
    assert speakers == ["SPEAKER_00", "SPEAKER_01"]
    assert [(t.speaker, t.start, t.end, t.text) for t in turns] == [
        ("SPEAKER_00", 0.1, 1.8, "Hello there. How are you?"),
        ("SPEAKER_01", 2.2, 2.6, "Fine!"),
        ("SPEAKER_00", 4.5, 5.0, "Bye"),
    ]


def test_a_speaker_who_said_nothing_keeps_their_label_but_has_no_turn() -> None:
    segments = [segment(0, 0.0, 1.0, " Hi", "SPEAKER_01"), segment(1, 1.0, 2.0, "  ", "SPEAKER_00")]
    speakers, turns = speaker_transcript(["SPEAKER_00", "SPEAKER_01"], segments)
    assert speakers == ["SPEAKER_00", "SPEAKER_01"]
    assert [(t.speaker, t.text) for t in turns] == [("SPEAKER_01", "Hi")]


def test_segments_without_a_speaker_are_left_out() -> None:
    segments = [segment(0, 0.0, 1.0, " Hi", None), segment(1, 1.0, 2.0, " there", "SPEAKER_00")]
    assert speaker_transcript(["SPEAKER_00"], segments) == (
        ["SPEAKER_00"],
        [SpeakerTurnData(speaker="SPEAKER_00", start=1.0, end=2.0, text="there")],
    )


def test_nothing_transcribed_gives_no_turns() -> None:
    assert speaker_transcript(["SPEAKER_00"], []) == (["SPEAKER_00"], [])
