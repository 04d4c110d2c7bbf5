"""Studio's pure rules: splitting text into segments, folding a project from its events, the checks
of each edit, pronunciations, render keys and the export's layout."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import NotFound
from domain.events import DomainEvent
from domain.fields import FieldError
from domain.studio import (
    MAX_SEGMENT_CHARS,
    SPLIT_PARAGRAPH_CHARS,
    MetaChanged,
    Project,
    ProjectCreated,
    ProjectRestored,
    Pronunciation,
    PronunciationAdded,
    Segment,
    SegmentAudioRendered,
    SegmentEdited,
    SegmentsAdded,
    content_at,
    delete_segments,
    fold,
    merge_next,
    reorder,
    segment_texts,
    split,
)
from domain.studio_renders import (
    MixedSampleRates,
    NotRendered,
    export_layout,
    missing_audio,
    pronounced,
    render_key,
    segment_voice,
)


def _events(*events: DomainEvent) -> list[tuple[str, dict[str, Any], int, float]]:
    return [(event.verb, event.payload(), version, float(version)) for version, event in enumerate(events, 1)]


def _project(
    *later: DomainEvent, texts: tuple[str, ...] = ("One two.", "Three four.", "Five six.")
) -> Project:
    created = ProjectCreated(
        project_id="p",
        name="P",
        model="Piper-Joe-Medium",
        segments=tuple(Segment(id=f"s{index}", text=text) for index, text in enumerate(texts)),
    )
    project = fold(_events(created, *later))
    assert project is not None
    return project


def test_text_becomes_paragraphs_and_long_paragraphs_become_sentence_groups() -> None:
    assert segment_texts("First  paragraph\nwraps.\n\n\nSecond one.\r\n\r\nThird.") == [
        "First paragraph wraps.",
        "Second one.",
        "Third.",
    ]
    sentence = "This sentence is about sixty characters long, more or less ok."
    pieces = segment_texts(" ".join([sentence] * 30))
    assert len(pieces) > 1 and all(len(piece) <= SPLIT_PARAGRAPH_CHARS for piece in pieces)
    assert " ".join(pieces) == " ".join([sentence] * 30)
    with pytest.raises(FieldError) as refused:
        segment_texts("word " * (MAX_SEGMENT_CHARS // 4))
    assert refused.value.param == "text"


def test_split_merge_reorder_and_delete_fold_back_to_what_they_say() -> None:
    project = _project()
    cut = split(project, "s1", 5, "new")
    project = _project(cut)
    assert [s.text for s in project.segments] == ["One two.", "Three", "four.", "Five six."]
    project = _project(cut, merge_next(project, "s1"))
    assert [s.text for s in project.segments] == ["One two.", "Three four.", "Five six."]
    moved = reorder(project, ["s2", "s0", "s1"])
    project = _project(cut, merge_next(_project(cut), "s1"), moved)
    assert [s.id for s in project.segments] == ["s2", "s0", "s1"]
    gone = delete_segments(project, ["s0"])
    assert [s.id for s in _project(cut, merge_next(_project(cut), "s1"), moved, gone).segments] == [
        "s2",
        "s1",
    ]


@pytest.mark.parametrize("offset", [0, 11, 99, -1])
def test_a_split_must_leave_words_on_both_sides(offset: int) -> None:
    with pytest.raises(FieldError) as refused:
        split(_project(), "s1", offset, "new")  # "Three four." is 11 characters
    assert refused.value.param == "offset"
    assert split(_project(), "s1", 1, "new").offset == 1


def test_edits_name_what_is_wrong() -> None:
    project = _project()
    with pytest.raises(FieldError, match="last one"):
        merge_next(project, "s2")
    with pytest.raises(FieldError, match="every segment"):
        reorder(project, ["s0", "s1"])
    with pytest.raises(FieldError, match="twice"):
        reorder(project, ["s0", "s0", "s1"])
    with pytest.raises(NotFound):
        delete_segments(project, ["nope"])
    with pytest.raises(NotFound):
        project.segment("nope")


def test_a_snapshot_names_content_that_a_restore_brings_back_with_its_audio() -> None:
    audio = SegmentAudioRendered(
        segment_id="s0", key="k", media="0" * 64, sample_rate=22050, sample_count=10, render_job_id="r"
    )
    history = _events(
        _project_created(),
        audio,
        SegmentEdited(segment_id="s0", changes={"text": "Changed."}),
        MetaChanged(meta={"author": "A"}),
    )
    at_two = content_at(history, 2)
    assert at_two.segments[0].text == "Hello." and at_two.meta == {}
    restored = fold(
        [*history, ("restored", ProjectRestored(snapshot_id="x", content=at_two).payload(), 5, 5.0)]
    )
    assert restored is not None
    assert restored.segments[0].text == "Hello." and restored.audio["k"].media == "0" * 64
    assert restored.version == 5


def _project_created() -> ProjectCreated:
    return ProjectCreated(project_id="p", name="P", model="m", segments=(Segment(id="s0", text="Hello."),))


def test_pronunciations_replace_whole_words_as_asked() -> None:
    word = Pronunciation(id="1", term="SQL", replacement="sequel")
    assert pronounced("SQL and sql, not SQLite.", [word]) == "sequel and sequel, not SQLite."
    exact = Pronunciation(id="2", term="SQL", replacement="sequel", case_sensitive=True)
    assert pronounced("SQL and sql.", [exact]) == "sequel and sql."
    anywhere = Pronunciation(id="3", term="lite", replacement=r"light\1", whole_word=False)
    assert pronounced("SQLite", [anywhere]) == r"SQlight\1"  # the backslash is said as written


def test_the_render_key_changes_with_what_is_heard_and_nothing_else() -> None:
    project = _project()
    segment = project.segments[0]
    key = render_key(segment_voice(project.content, segment))
    paused = segment.model_copy(update={"pause_after_ms": 2000})
    assert render_key(segment_voice(project.content, paused)) == key
    faster = segment.model_copy(update={"speed": 1.5})
    assert render_key(segment_voice(project.content, faster)) != key
    said = _project(PronunciationAdded(pronunciation=Pronunciation(id="1", term="two", replacement="2")))
    assert render_key(segment_voice(said.content, said.segments[0])) != key
    assert render_key(segment_voice(said.content, said.segments[1])) == render_key(
        segment_voice(project.content, project.segments[1])
    )


def _rendered(project: Project, rate: int = 100, **counts: int) -> list[SegmentAudioRendered]:
    return [
        SegmentAudioRendered(
            segment_id=s.id,
            key=render_key(segment_voice(project.content, s)),
            media=f"{index:064d}",
            sample_rate=rate,
            sample_count=counts.get(s.id, 50),
            render_job_id="r",
        )
        for index, s in enumerate(project.segments)
    ]


def test_the_export_lays_segments_out_with_their_pauses_and_refuses_what_is_not_rendered() -> None:
    added = SegmentsAdded(index=3, segments=(Segment(id="s3", text="Seven.", pause_after_ms=1000),))
    project = _project(added)
    with pytest.raises(NotRendered) as missing:
        export_layout(project, project.segments)
    assert missing.value.segment_ids == ("s0", "s1", "s2", "s3")
    rendered = _project(added, *_rendered(project, s1=100))
    assert missing_audio(rendered, rendered.segments) == []
    layout = export_layout(rendered, rendered.segments)
    assert [(p.start, p.end) for p in layout.parts] == [(0.0, 0.5), (0.9, 1.9), (2.3, 2.8), (3.2, 3.7)]
    assert layout.parts[-1].pause_samples == 0 and layout.sample_count == 370
    mixed = _project(*_rendered(project)[:2], *_rendered(project, rate=200)[2:])
    with pytest.raises(MixedSampleRates):
        export_layout(mixed, mixed.segments)


def test_studio_projects_is_offered_exactly_by_the_models_that_can_render_a_segment() -> None:
    from domain.capabilities import Capability
    from domain.catalog import BUILTIN

    # A segment carries text and a voice name: a model needs voices of its own (not a reference clip).
    for variant in BUILTIN:
        speaks_alone = variant.speech is not None and variant.speech.supports_builtin_voices
        assert variant.route_capabilities()[Capability.STUDIO_PROJECTS.value] == speaks_alone, variant.id
