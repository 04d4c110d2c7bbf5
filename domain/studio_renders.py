"""Rendering a Studio project (``render-<id>`` job streams) and laying out its export.

Pure. A segment's audio is keyed by what determines it: its text after the project's
pronunciations, normalised, and the voice, model and speed it is spoken with. A render job
synthesizes only the segments whose key has no audio in the project yet; the audio it makes is
recorded in the project's stream (``studio.segment_audio_rendered``), so every later render,
edit undone or snapshot restored finds it there.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from domain.capabilities import Capability
from domain.events import DomainEvent
from domain.jobs import RENDER_STATUSES
from domain.kinds import JobKind, RecordKind, declare
from domain.studio import Project, ProjectContent, Pronunciation, Segment, SegmentAudio

CATEGORY = "render"
ACTOR = "render_studio_project"
STALE = "stale"
"""A completed render whose project has changed since it was asked for."""
EXPORT_FORMATS: tuple[str, ...] = ("wav", "raw_i16", "raw_f32", "mp3", "opus", "flac")
MIN_PRIORITY, MAX_PRIORITY = -10, 10
"""A render job's priority: a queued job of a higher one starts first, and a running job of a
lower one gives way to it between segments (``RenderDeferred``)."""
MAX_DEFERRALS = 600
"""A job gives way at most this many times in a run (then it goes on whatever is queued)."""


class RenderParams(BaseModel):
    """What a render job renders: the project as of ``project_version``, all of it or some
    segments, with ``model`` the project's default (segments may name others)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project_id: str
    project_version: int
    model: str
    segment_ids: tuple[str, ...] | None = None
    priority: int = 0


class RenderPriorityChanged(DomainEvent):
    """A render job's priority, changed while it waits or runs."""

    verb = "priority_changed"
    priority: int


class RenderDeferred(DomainEvent):
    """The job gave way to a queued render job of a higher priority, after ``done`` segments; its
    message went back to the queue."""

    verb = "deferred"
    behind: str
    done: int


class RenderResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    project_id: str
    project_version: int
    segment_count: int
    synthesized: tuple[str, ...]
    """The segments this job synthesized (the others' audio already existed)."""
    reused: int
    duration_secs: float


STUDIO_RENDER: JobKind[RenderParams] = declare(
    JobKind(
        name="studio_render",
        category=CATEGORY,
        actor=ACTOR,
        params=RenderParams,
        capability=Capability.STUDIO_PROJECTS,
        result=RenderResult,
        modality="audio_output",
        record=RecordKind("studio_renders", RENDER_STATUSES, always=True),
    )
)


# --- what a segment is rendered from ----------------------------------------------------------


@dataclass(frozen=True)
class SegmentVoice:
    """How a segment is spoken: its own settings, else the project's."""

    text: str
    voice: str | None
    model: str
    speed: float
    pause_after_ms: int


def _pattern(pronunciation: Pronunciation) -> re.Pattern[str]:
    term = re.escape(pronunciation.term)
    if pronunciation.whole_word:
        term = rf"(?<!\w){term}(?!\w)"
    return re.compile(term, 0 if pronunciation.case_sensitive else re.IGNORECASE)


def _said(replacement: str, _match: re.Match[str]) -> str:
    return replacement


def pronounced(text: str, pronunciations: Sequence[Pronunciation]) -> str:
    """``text`` as it is spoken: each pronunciation applied in the order they were added."""
    for pronunciation in pronunciations:
        # A function, not the string: a replacement's backslashes are not group references.
        text = _pattern(pronunciation).sub(functools.partial(_said, pronunciation.replacement), text)
    return " ".join(text.split())


def touches(pronunciation: Pronunciation, text: str) -> bool:
    return _pattern(pronunciation).search(text) is not None


def segment_voice(content: ProjectContent, segment: Segment) -> SegmentVoice:
    return SegmentVoice(
        text=pronounced(segment.text, content.pronunciations),
        voice=segment.voice if segment.voice is not None else content.voice,
        model=segment.model or content.model,
        speed=segment.speed if segment.speed is not None else content.speed,
        pause_after_ms=segment.pause_after_ms
        if segment.pause_after_ms is not None
        else content.pause_after_ms,
    )


def render_key(spoken: SegmentVoice) -> str:
    determined = {"text": spoken.text, "voice": spoken.voice, "model": spoken.model, "speed": spoken.speed}
    return hashlib.sha256(json.dumps(determined, sort_keys=True).encode()).hexdigest()


def selected(project: Project, segment_ids: Sequence[str] | None) -> list[Segment]:
    """The segments asked for, in the order given (all of them, in project order, for None)."""
    if segment_ids is None:
        return list(project.segments)
    return [project.segment(segment_id) for segment_id in segment_ids]


def missing_audio(project: Project, segments: Sequence[Segment]) -> list[Segment]:
    """The segments whose current key has no audio yet."""
    return [s for s in segments if render_key(segment_voice(project.content, s)) not in project.audio]


# --- the export ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportPart:
    segment_id: str
    audio: SegmentAudio
    pause_samples: int
    """Silence after the segment (none after the last)."""
    start: float
    end: float


@dataclass(frozen=True)
class ExportLayout:
    sample_rate: int
    parts: tuple[ExportPart, ...]

    @property
    def sample_count(self) -> int:
        return sum(part.audio.sample_count + part.pause_samples for part in self.parts)

    @property
    def duration_secs(self) -> float:
        return self.sample_count / self.sample_rate if self.sample_rate else 0.0

    def timeline(self) -> list[dict[str, object]]:
        """Each segment's start and end in the export, in seconds (usable as chapter marks)."""
        return [{"segment_id": p.segment_id, "start": p.start, "end": p.end} for p in self.parts]


class NotRendered(Exception):
    """Segments whose current audio has not been rendered."""

    def __init__(self, segment_ids: Sequence[str]) -> None:
        shown = ", ".join(segment_ids[:10]) + (" …" if len(segment_ids) > 10 else "")
        super().__init__(
            f"{len(segment_ids)} segment(s) have no audio for their current text and voice "
            f"({shown}): POST …/render-jobs first."
        )
        self.segment_ids = tuple(segment_ids)


class MixedSampleRates(Exception):
    pass


def export_layout(project: Project, segments: Sequence[Segment]) -> ExportLayout:
    """Where each segment's audio and pause go in the export; ``NotRendered`` when any lacks
    audio, ``MixedSampleRates`` when their models differ in sample rate."""
    found: list[tuple[Segment, SegmentAudio, int]] = []
    missing: list[str] = []
    for segment in segments:
        spoken = segment_voice(project.content, segment)
        audio = project.audio.get(render_key(spoken))
        if audio is None:
            missing.append(segment.id)
        else:
            found.append((segment, audio, spoken.pause_after_ms))
    if missing:
        raise NotRendered(missing)
    rates = {audio.sample_rate for _, audio, _ in found}
    if len(rates) > 1:
        raise MixedSampleRates(
            f"The segments were rendered at different sample rates ({sorted(rates)}): export them "
            "separately (segment_ids) or render them with one model."
        )
    rate = rates.pop() if rates else 0
    parts: list[ExportPart] = []
    cursor = 0
    for index, (segment, audio, pause_ms) in enumerate(found):
        pause = round(pause_ms * rate / 1000) if index < len(found) - 1 else 0
        start, end = cursor, cursor + audio.sample_count
        parts.append(ExportPart(segment.id, audio, pause, round(start / rate, 4), round(end / rate, 4)))
        cursor = end + pause
    return ExportLayout(rate, tuple(parts))
