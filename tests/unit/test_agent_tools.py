"""The agent's server tools that read the recordings (with an in-memory ``Recordings``), passages for
the search, a plan kept or not, and a turn's events as the contract names them."""

from __future__ import annotations

import pytest

from domain.agents import kept_plan, turn_event
from workers.agent_tools import ToolContext, ToolFailed, current_time, get_transcript, list_recordings
from workflows.agents import RecordedSegment, Recording, passages_of

MEETING = Recording(
    id="r1",
    title="Team meeting",
    duration=30.0,
    created_at=1_700_000_000.0,
    version=7,
    segments=(
        RecordedSegment(0.0, 4.0, " The deadline moves to Friday.", "Sheila"),
        RecordedSegment(4.0, 9.0, " Numbers by Wednesday, please.", "Sheila"),
        RecordedSegment(9.0, 12.0, " Sounds good.", None),
    ),
)


class Library:
    def __init__(self, *recordings: Recording) -> None:
        self.recordings = recordings

    def listed(self, limit: int) -> list[Recording]:
        return list(self.recordings[:limit])

    def transcribed(self) -> list[Recording]:
        return [r for r in self.recordings if r.segments]

    def find(self, record_id: str) -> Recording | None:
        return next((r for r in self.recordings if r.id == record_id), None)


CONTEXT = ToolContext(Library(MEETING), "agent/s1", "call_1")


def test_passages_keep_whole_segments_and_their_speakers() -> None:
    assert passages_of(MEETING) == [
        (
            0.0,
            12.0,
            "Sheila: The deadline moves to Friday. Sheila: Numbers by Wednesday, please. Sounds good.",
        )
    ]
    short = passages_of(MEETING, max_words=8)
    assert [(start, end) for start, end, _ in short] == [(0.0, 4.0), (4.0, 12.0)]
    assert short[0][2] == "Sheila: The deadline moves to Friday."


def test_a_transcript_or_a_time_range_of_it() -> None:
    whole = get_transcript({"record_id": "r1"}, CONTEXT)
    assert whole["text"] == "The deadline moves to Friday. Numbers by Wednesday, please. Sounds good."
    ranged = get_transcript({"record_id": "r1", "start": 4.5, "end": 8}, CONTEXT)
    assert ranged["text"] == "Numbers by Wednesday, please." and ranged["title"] == "Team meeting"
    with pytest.raises(ToolFailed, match="no ready recording 'r9'"):
        get_transcript({"record_id": "r9"}, CONTEXT)
    with pytest.raises(ToolFailed, match="number of seconds"):
        get_transcript({"record_id": "r1", "start": "soon"}, CONTEXT)


def test_recordings_are_listed_and_the_time_told() -> None:
    listed = list_recordings({}, CONTEXT)["recordings"]
    assert listed == [
        {
            "record_id": "r1",
            "title": "Team meeting",
            "duration_secs": 30.0,
            "created_at": "2023-11-14T22:13:20+00:00",
        }
    ]
    with pytest.raises(ToolFailed, match="integer from 1 to 50"):
        list_recordings({"limit": 0}, CONTEXT)
    now = current_time({}, CONTEXT)
    assert now["utc"].endswith("+00:00") and now["weekday"]


@pytest.mark.parametrize(
    ("mode", "steps", "kept"),
    [
        ("on", ["search", " "], ("search",)),
        ("auto", ["search"], ()),
        ("auto", ["search", "answer"], ("search", "answer")),
        ("off", ["search", "answer"], ()),
    ],
)
def test_a_plan_is_kept_as_the_mode_says(mode: str, steps: list[str], kept: tuple[str, ...]) -> None:
    assert kept_plan(mode, steps) == kept  # type: ignore[arg-type]


def test_a_turns_events_are_named_as_the_contract_names_them() -> None:
    assert turn_event("started", {"worker": "w", "attempt": 1}) == {"type": "turn_started"}
    assert turn_event("completed", {"result": {"status": "requires_action"}}) == {
        "type": "turn_completed",
        "status": "requires_action",
    }
    completed = turn_event("tool_call_completed", {"call_id": "c", "name": "n", "result": {"x": 1}})
    assert completed == {"type": "tool_call_completed", "call_id": "c", "name": "n", "result": {"x": 1}}
    assert turn_event("progressed", {}) is None
