"""What a record's summary is made from: the text of its latest run as the user sees it, cut into
parts that fit the model, and the latest summary still waiting for an outcome."""

from __future__ import annotations

from typing import Any

from domain.summaries import (
    combine_messages,
    pack,
    pending_summary,
    split_transcript,
    summary_messages,
    summary_source,
)

Events = list[tuple[str, dict[str, Any]]]


def segment(segment_id: int, text: str, start: float = 0.0) -> tuple[str, dict[str, Any]]:
    return (
        "transcription.segment_transcribed",
        {"id": segment_id, "start": start, "end": start + 1, "text": text, "words": []},
    )


def requested(run: int = 1) -> tuple[str, dict[str, Any]]:
    return ("transcription.requested", {"job_id": "x", "params": {}, "run": run})


def turn(speaker: str, start: float, end: float, text: str | None = None) -> dict[str, Any]:
    return {"speaker": speaker, "start": start, "end": end, **({"text": text} if text else {})}


def test_a_transcription_is_its_segments() -> None:
    events: Events = [requested(), segment(0, " Hello  there. "), segment(1, "General Kenobi.", 1.0)]
    assert summary_source(events) == "Hello there. General Kenobi."


def test_only_the_latest_run_counts() -> None:
    events: Events = [requested(), segment(0, "First run."), requested(2), segment(0, "Second run.")]
    assert summary_source(events) == "Second run."


def test_speaker_turns_under_the_users_labels() -> None:
    labels_1 = (
        "transcription.record_updated",
        {"speaker_labels": {"SPEAKER_00": "Alice", "SPEAKER_01": "X"}},
    )
    labels_2 = ("transcription.record_updated", {"speaker_labels": {"SPEAKER_01": None}})
    attributed = (
        "transcription.speakers_attributed",
        {
            "speakers": ["SPEAKER_00", "SPEAKER_01"],
            "turns": [turn("SPEAKER_00", 0, 1, "Ship it Friday."), turn("SPEAKER_01", 1, 2, "Monday.")],
        },
    )
    # Labels outlive a rerun (the record keeps them); a label of None removes it.
    events: Events = [labels_1, requested(2), segment(0, "Ship it Friday. Monday."), attributed, labels_2]
    assert summary_source(events) == "Alice: Ship it Friday.\nSPEAKER_01: Monday."


def test_an_edited_text_wins() -> None:
    events: Events = [
        requested(),
        segment(0, "Helo there."),
        ("transcription.record_updated", {"title": "Greeting"}),
        ("transcription.record_updated", {"text": "Hello there."}),
    ]
    assert summary_source(events) == "Hello there."


def test_a_diarization_is_who_spoke_how_long() -> None:
    found = (
        "diarization.speakers_found",
        {
            "speakers": ["SPEAKER_00", "SPEAKER_01"],
            "turns": [
                turn("SPEAKER_00", 0.0, 30.0),
                turn("SPEAKER_01", 30.0, 120.0),
                turn("SPEAKER_00", 121, 151),
            ],
        },
    )
    events: Events = [("diarization.requested", {"job_id": "x"}), found]
    events.append(("diarization.record_updated", {"speaker_labels": {"SPEAKER_01": "Bob"}}))
    assert summary_source(events) == (
        "A recording with no transcript. Who spoke, and for how long:\n"
        "- SPEAKER_00: 1 min 0 s in 2 turns (40 % of the speech)\n"
        "- Bob: 1 min 30 s in 1 turn (60 % of the speech)\n"
        "Speech from 0 s to 2 min 31 s, 2 changes of speaker."
    )


def test_nothing_to_summarise() -> None:
    assert summary_source([requested()]) == ""
    assert (
        summary_source(
            [("diarization.requested", {}), ("diarization.speakers_found", {"speakers": [], "turns": []})]
        )
        == ""
    )


def test_long_transcripts_are_cut_at_lines_then_words() -> None:
    lines = "A: one two three\nB: four five\nA: six"
    assert split_transcript(lines, 100) == [lines]
    assert split_transcript(lines, 30) == ["A: one two three\nB: four five", "A: six"]
    assert split_transcript("one two three four five", 10) == ["one two", "three four", "five"]
    assert split_transcript("abcdefghijkl xy", 5) == ["abcde", "fghij", "kl xy"]
    parts = split_transcript(" ".join(["word"] * 1000), 200)
    assert all(len(part) <= 200 for part in parts) and " ".join(parts).split() == ["word"] * 1000


def test_pack_keeps_order_and_size() -> None:
    assert pack(["aa", "bb", "cc"], 5) == [["aa", "bb"], ["cc"]]
    assert pack(["toolong", "a"], 3) == [["toolong"], ["a"]]
    assert pack([], 3) == []


def test_the_messages() -> None:
    messages = summary_messages("A: hi")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "A: hi" in messages[1]["content"] and "summar" in messages[0]["content"].lower()
    combined = combine_messages(["First part.", "Second part."])
    assert (
        "Part 1:\nFirst part." in combined[1]["content"] and "Part 2:\nSecond part." in combined[1]["content"]
    )


def test_the_pending_summary() -> None:
    asked = ("transcription.summary_requested", {"summary_id": "s1", "model": "M"})
    again = ("transcription.summary_requested", {"summary_id": "s2", "model": "M"})
    part = ("transcription.summary_generated", {"summary_id": "s2", "sequence": 0, "text": "The "})
    stale = ("transcription.summary_generated", {"summary_id": "s1", "sequence": 0, "text": "old"})
    done = ("transcription.summary_completed", {"summary_id": "s2", "summary": "The end", "model": "M"})
    failed_old = ("transcription.summary_failed", {"summary_id": "s1", "error": "x"})

    assert pending_summary([requested()]) is None
    pending = pending_summary([asked])
    assert pending is not None and (pending.summary_id, pending.model, pending.generated) == ("s1", "M", "")
    latest = pending_summary([asked, again, stale, part, failed_old])
    assert latest is not None and (latest.summary_id, latest.generated) == ("s2", "The ")
    assert pending_summary([asked, again, part, done]) is None
