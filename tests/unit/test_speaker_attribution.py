"""Merging diarization turns with word timestamps into speaker-labelled transcript turns."""

from __future__ import annotations

from dataclasses import dataclass

from domain.speaker_attribution import TimedWord, attribute_speakers, transcript_words
from domain.transcription import SegmentTranscribed, WordTiming


@dataclass(frozen=True)
class Turn:
    speaker: str
    start: float
    end: float


def words(*timed: tuple[str, float, float]) -> list[TimedWord]:
    return [TimedWord(text, start, end) for text, start, end in timed]


def merged(turns: list[Turn], said: list[TimedWord]) -> list[tuple[str, str]]:
    _, result = attribute_speakers(turns, said)
    return [(turn.speaker, turn.text or "") for turn in result]


def test_consecutive_words_of_one_speaker_form_one_turn() -> None:
    turns = [Turn("SPEAKER_00", 0.0, 2.0), Turn("SPEAKER_01", 2.0, 4.0), Turn("SPEAKER_00", 4.0, 6.0)]
    said = words(("Hello", 0.1, 0.5), ("there.", 0.6, 1.0), ("Hi!", 2.2, 2.6), ("Bye", 4.5, 5.0))
    speakers, result = attribute_speakers(turns, said)
    assert speakers == ["SPEAKER_00", "SPEAKER_01"]
    assert [(t.speaker, t.start, t.end, t.text) for t in result] == [
        ("SPEAKER_00", 0.1, 1.0, "Hello there."),
        ("SPEAKER_01", 2.2, 2.6, "Hi!"),
        ("SPEAKER_00", 4.5, 5.0, "Bye"),
    ]


def test_a_word_spanning_two_turns_goes_to_the_larger_overlap() -> None:
    turns = [Turn("A", 0.0, 1.0), Turn("B", 1.0, 3.0)]
    assert merged(turns, words(("early", 0.5, 1.2))) == [("SPEAKER_00", "early")]
    assert merged(turns, words(("late", 0.8, 1.5))) == [("SPEAKER_00", "late")]


def test_overlaps_of_one_speaker_add_up() -> None:
    # B's two short turns together cover more of "word" than A's one between them.
    turns = [Turn("A", 0.0, 1.0), Turn("B", 1.0, 1.3), Turn("A", 1.3, 1.7), Turn("B", 1.7, 2.2)]
    said = words(("a", 0.2, 0.8), ("word", 1.0, 2.2))
    assert merged(turns, said) == [("SPEAKER_00", "a"), ("SPEAKER_01", "word")]


def test_words_in_a_gap_go_to_the_nearest_turn() -> None:
    turns = [Turn("A", 0.0, 1.0), Turn("B", 3.0, 4.0)]
    said = words(("one", 0.2, 0.6), ("near-a", 1.1, 1.3), ("near-b", 2.6, 2.9), ("two", 3.2, 3.6))
    assert merged(turns, said) == [("SPEAKER_00", "one near-a"), ("SPEAKER_01", "near-b two")]


def test_words_before_and_after_every_turn() -> None:
    turns = [Turn("A", 1.0, 2.0), Turn("B", 2.0, 3.0)]
    said = words(("first", 0.0, 0.5), ("last", 3.5, 4.0))
    assert merged(turns, said) == [("SPEAKER_00", "first"), ("SPEAKER_01", "last")]


def test_an_instant_word_inside_a_turn() -> None:
    turns = [Turn("A", 0.0, 1.0), Turn("B", 1.0, 2.0)]
    assert merged(turns, words(("a", 1.5, 1.5))) == [("SPEAKER_00", "a")]
    assert attribute_speakers(turns, words(("a", 1.5, 1.5)))[1][0].speaker == "SPEAKER_00"


def test_a_long_turn_overlapping_later_ones_is_found() -> None:
    # A's long turn starts first; B's short turns start later but end sooner.
    turns = [Turn("A", 0.0, 10.0), Turn("B", 1.0, 1.5), Turn("B", 2.0, 2.5)]
    assert merged(turns, words(("x", 5.0, 5.5))) == [("SPEAKER_00", "x")]
    assert merged(turns, words(("y", 2.0, 2.5))) == [("SPEAKER_00", "y")]  # a tie: the first turn


def test_speakers_are_renamed_by_first_appearance_among_the_words() -> None:
    turns = [Turn("SPEAKER_00", 0.0, 1.0), Turn("SPEAKER_01", 1.0, 2.0), Turn("SPEAKER_02", 2.0, 3.0)]
    # SPEAKER_00 said nothing transcribable: the others become SPEAKER_00 and SPEAKER_01.
    speakers, result = attribute_speakers(turns, words(("b", 1.2, 1.5), ("c", 2.2, 2.5)))
    assert speakers == ["SPEAKER_00", "SPEAKER_01"]
    assert [t.speaker for t in result] == ["SPEAKER_00", "SPEAKER_01"]


def test_without_turns_every_word_is_one_speaker() -> None:
    speakers, result = attribute_speakers([], words(("a", 0.0, 0.5), ("b", 0.6, 1.0)))
    assert speakers == ["SPEAKER_00"]
    assert [(t.speaker, t.text) for t in result] == [("SPEAKER_00", "a b")]
    assert attribute_speakers([Turn("A", 0.0, 1.0)], []) == ([], [])


def test_transcript_words_fall_back_to_whole_segments() -> None:
    timed = SegmentTranscribed(
        id=0,
        start=0.0,
        end=1.0,
        text="Hello there.",
        words=(WordTiming(word="Hello", start=0.0, end=0.4), WordTiming(word="there.", start=0.5, end=1.0)),
    )
    untimed = SegmentTranscribed(id=1, start=1.0, end=2.5, text="  General   Kenobi. ")
    silent = SegmentTranscribed(id=2, start=2.5, end=3.0, text=" ")
    assert transcript_words([timed, untimed, silent]) == [
        TimedWord("Hello", 0.0, 0.4),
        TimedWord("there.", 0.5, 1.0),
        TimedWord("General Kenobi.", 1.0, 2.5),
    ]
