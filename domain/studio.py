"""Studio projects (``studio-<id>`` streams) and folders (``studiofolder-<id>``): long-form speech,
edited segment by segment (docs/studio.md).

Pure: what a project holds, the events that change it, the fold that rebuilds it from them, and
the checks each edit makes first (a ``FieldError`` names the field at fault, ``NotFound`` an id the
project does not have). A project's history is never rewritten: a restore appends the content the
snapshot names. Rendered audio is recorded in the project's stream too (``segment_audio_rendered``),
keyed by what determines it (``domain.studio_renders.render_key``), so it outlives edits and
restores and is reused whenever a segment asks for it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import NotFound
from domain.events import DomainEvent
from domain.fields import FieldError
from domain.sentences import split_sentences

CATEGORY = "studio"
FOLDER_CATEGORY = "studiofolder"
BASE_URL = "/v1/studio"
PROJECT_OBJECT = "studio.project"
FOLDER_OBJECT = "studio.folder"

MAX_NAME_CHARS = 200
MAX_SEGMENT_CHARS = 5_000
SPLIT_PARAGRAPH_CHARS = 600
"""A paragraph longer than this becomes several segments, cut at sentence ends."""
MAX_PROJECT_CHARS = 2_000_000
MAX_SEGMENTS = 10_000
MAX_PAUSE_MS = 60_000
MAX_META_CHARS = 20_000
DEFAULT_PAUSE_MS = 400
MIN_SPEED, MAX_SPEED = 0.25, 4.0


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SegmentSettings(_Frozen):
    """What a segment may set for itself; None takes the project's."""

    voice: str | None = None
    model: str | None = None
    speed: float | None = None
    pause_after_ms: int | None = None


class Segment(SegmentSettings):
    id: str
    text: str


class Pronunciation(_Frozen):
    """Say ``replacement`` wherever ``term`` is written (a whole word unless ``whole_word`` is false)."""

    id: str
    term: str
    replacement: str
    whole_word: bool = True
    case_sensitive: bool = False


class ProjectSettings(_Frozen):
    name: str
    folder_id: str | None = None
    model: str
    voice: str | None = None
    speed: float = 1.0
    pause_after_ms: int = DEFAULT_PAUSE_MS


class ProjectContent(ProjectSettings):
    """Everything a snapshot brings back."""

    meta: dict[str, Any] = Field(default_factory=dict)
    segments: tuple[Segment, ...] = ()
    pronunciations: tuple[Pronunciation, ...] = ()


class SegmentAudio(_Frozen):
    key: str
    media: str
    """A media object: the segment's samples, mono float32 little-endian."""
    sample_rate: int
    sample_count: int
    render_job_id: str


# --- events -----------------------------------------------------------------------------


class FolderCreated(DomainEvent):
    verb = "created"
    folder_id: str
    name: str


class ProjectCreated(ProjectContent, DomainEvent):
    verb = "created"
    project_id: str


class ProjectChanged(DomainEvent):
    verb = "changed"
    changes: dict[str, Any]
    """Settings fields (``ProjectSettings``) and their new values."""


class MetaChanged(DomainEvent):
    verb = "meta_changed"
    meta: dict[str, Any]


class SegmentsAdded(DomainEvent):
    verb = "segments_added"
    index: int
    segments: tuple[Segment, ...]


class SegmentEdited(DomainEvent):
    verb = "segment_edited"
    segment_id: str
    changes: dict[str, Any]
    """``text`` and ``SegmentSettings`` fields (None: back to the project's)."""


class SegmentSplit(DomainEvent):
    verb = "segment_split"
    segment_id: str
    offset: int
    new_segment_id: str


class SegmentMerged(DomainEvent):
    verb = "segment_merged"
    segment_id: str
    next_id: str


class SegmentsReordered(DomainEvent):
    verb = "segments_reordered"
    order: tuple[str, ...]


class SegmentsDeleted(DomainEvent):
    verb = "segments_deleted"
    segment_ids: tuple[str, ...]


class PronunciationAdded(DomainEvent):
    verb = "pronunciation_added"
    pronunciation: Pronunciation


class PronunciationRemoved(DomainEvent):
    verb = "pronunciation_removed"
    pronunciation_id: str


class SnapshotTaken(DomainEvent):
    verb = "snapshot_taken"
    snapshot_id: str
    name: str
    project_version: int
    """The stream version whose content the snapshot names."""


class ProjectRestored(DomainEvent):
    verb = "restored"
    snapshot_id: str
    content: ProjectContent


class SegmentAudioRendered(SegmentAudio, DomainEvent):
    verb = "segment_audio_rendered"
    segment_id: str


class ProjectDeleted(DomainEvent):
    verb = "deleted"


# --- the project, folded from its stream -------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    id: str
    name: str
    project_version: int
    created_at: float


@dataclass(frozen=True)
class Project:
    id: str
    content: ProjectContent
    version: int = 0
    content_version: int = 0
    """The version of the last event that changed the content (rendered audio and snapshots do not)."""
    created_at: float = 0.0
    updated_at: float = 0.0
    snapshots: tuple[Snapshot, ...] = ()
    audio: Mapping[str, SegmentAudio] = field(default_factory=dict)
    deleted: bool = False

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self.content.segments

    def segment(self, segment_id: str) -> Segment:
        for segment in self.content.segments:
            if segment.id == segment_id:
                return segment
        raise NotFound(f"Project {self.id!r} has no segment {segment_id!r}.")

    def index_of(self, segment_id: str) -> int:
        return self.content.segments.index(self.segment(segment_id))

    def snapshot(self, snapshot_id: str) -> Snapshot:
        for snapshot in self.snapshots:
            if snapshot.id == snapshot_id:
                return snapshot
        raise NotFound(f"Project {self.id!r} has no snapshot {snapshot_id!r}.")

    def pronunciation(self, pronunciation_id: str) -> Pronunciation:
        for pronunciation in self.content.pronunciations:
            if pronunciation.id == pronunciation_id:
                return pronunciation
        raise NotFound(f"Project {self.id!r} has no pronunciation {pronunciation_id!r}.")


def _with_segments(content: ProjectContent, segments: Iterable[Segment]) -> ProjectContent:
    return content.model_copy(update={"segments": tuple(segments)})


def _edited(content: ProjectContent, event: DomainEvent) -> ProjectContent:
    segments = list(content.segments)
    position = {segment.id: index for index, segment in enumerate(segments)}
    match event:
        case ProjectChanged(changes=changes):
            return content.model_copy(update=changes)
        case MetaChanged(meta=meta):
            return content.model_copy(update={"meta": meta})
        case SegmentsAdded(index=index, segments=added):
            return _with_segments(content, [*segments[:index], *added, *segments[index:]])
        case SegmentEdited(segment_id=segment_id, changes=changes):
            index = position[segment_id]
            segments[index] = segments[index].model_copy(update=changes)
            return _with_segments(content, segments)
        case SegmentSplit(segment_id=segment_id, offset=offset, new_segment_id=new_id):
            index = position[segment_id]
            first, second = split_at(segments[index].text, offset)
            head = segments[index].model_copy(update={"text": first})
            tail = segments[index].model_copy(update={"text": second, "id": new_id})
            return _with_segments(content, [*segments[:index], head, tail, *segments[index + 1 :]])
        case SegmentMerged(segment_id=segment_id, next_id=next_id):
            index = position[segment_id]
            joined = join_texts(segments[index].text, segments[position[next_id]].text)
            segments[index] = segments[index].model_copy(update={"text": joined})
            del segments[position[next_id]]
            return _with_segments(content, segments)
        case SegmentsReordered(order=order):
            return _with_segments(content, [segments[position[segment_id]] for segment_id in order])
        case SegmentsDeleted(segment_ids=gone):
            return _with_segments(content, [s for s in segments if s.id not in set(gone)])
        case PronunciationAdded(pronunciation=pronunciation):
            return content.model_copy(update={"pronunciations": (*content.pronunciations, pronunciation)})
        case PronunciationRemoved(pronunciation_id=gone_id):
            kept = tuple(p for p in content.pronunciations if p.id != gone_id)
            return content.model_copy(update={"pronunciations": kept})
        case ProjectRestored(content=restored):
            return restored
    return content


EVENTS: dict[str, type[DomainEvent]] = {
    cls.verb: cls
    for cls in (
        ProjectCreated,
        ProjectChanged,
        MetaChanged,
        SegmentsAdded,
        SegmentEdited,
        SegmentSplit,
        SegmentMerged,
        SegmentsReordered,
        SegmentsDeleted,
        PronunciationAdded,
        PronunciationRemoved,
        SnapshotTaken,
        ProjectRestored,
        SegmentAudioRendered,
        ProjectDeleted,
    )
}


def evolve(project: Project | None, verb: str, data: Mapping[str, Any], version: int, at: float) -> Project:
    """The project after one of its events (``verb``, ``data``), recorded at ``at``."""
    event = EVENTS[verb].model_validate(data)
    if isinstance(event, ProjectCreated):
        content = ProjectContent.model_validate(event.model_dump(exclude={"project_id"}))
        return Project(event.project_id, content, version, version, at, at)
    if project is None:
        raise ValueError(f"a studio project's first event must be {ProjectCreated.verb}, not {verb}")
    moved = replace(project, version=version, updated_at=at)
    match event:
        case SnapshotTaken():
            taken = Snapshot(event.snapshot_id, event.name, event.project_version, at)
            return replace(moved, snapshots=(*project.snapshots, taken), updated_at=project.updated_at)
        case SegmentAudioRendered():
            audio = {
                **project.audio,
                event.key: SegmentAudio.model_validate(event.model_dump(exclude={"segment_id"})),
            }
            return replace(moved, audio=audio, updated_at=project.updated_at)
        case ProjectDeleted():
            return replace(moved, deleted=True)
    return replace(moved, content=_edited(project.content, event), content_version=version)


class StoredEvent(Protocol):
    """What the fold reads of a stored event (the event store's ``RecordedEvent``)."""

    @property
    def type(self) -> str: ...
    @property
    def data(self) -> Mapping[str, Any]: ...
    @property
    def version(self) -> int: ...
    @property
    def recorded_at(self) -> float: ...


FoldInput = tuple[str, Mapping[str, Any], int, float]


def fold_input(stored: Iterable[StoredEvent]) -> list[FoldInput]:
    """Stored events as the fold takes them: ``(verb, data, version, recorded_at)``."""
    return [(e.type.partition(".")[2], e.data, e.version, e.recorded_at) for e in stored]


def fold(events: Iterable[FoldInput]) -> Project | None:
    """The project from its events as ``(verb, data, version, recorded_at)``, oldest first."""
    project: Project | None = None
    for verb, data, version, at in events:
        project = evolve(project, verb, data, version, at)
    return project


# --- text ---------------------------------------------------------------------------------


def split_at(text: str, offset: int) -> tuple[str, str]:
    """The two texts a split at ``offset`` makes, each stripped."""
    return text[:offset].strip(), text[offset:].strip()


def join_texts(first: str, second: str) -> str:
    return f"{first.rstrip()} {second.lstrip()}".strip()


def _paragraph_pieces(paragraph: str) -> list[str]:
    """A paragraph as segment texts: whole when short, else sentences grouped up to the limit."""
    if len(paragraph) <= SPLIT_PARAGRAPH_CHARS:
        return [paragraph]
    pieces: list[str] = []
    for sentence in split_sentences(paragraph):
        if pieces and len(pieces[-1]) + 1 + len(sentence) <= SPLIT_PARAGRAPH_CHARS:
            pieces[-1] = f"{pieces[-1]} {sentence}"
        else:
            pieces.append(sentence)
    return pieces


def segment_texts(text: str) -> list[str]:
    """A project's text as segments: paragraphs (blank-line separated), then sentences where a
    paragraph is long. Whitespace inside a paragraph is normalised."""
    paragraphs = [" ".join(block.split()) for block in text.replace("\r\n", "\n").split("\n\n")]
    pieces = [piece for paragraph in paragraphs if paragraph for piece in _paragraph_pieces(paragraph)]
    for piece in pieces:
        if len(piece) > MAX_SEGMENT_CHARS:
            raise FieldError(
                f"A sentence of {len(piece)} characters is longer than a segment may be "
                f"({MAX_SEGMENT_CHARS}): break it up.",
                "text",
            )
    return pieces


# --- the checks each edit makes ---------------------------------------------------------------


def check_segment_text(text: str, param: str = "text") -> str:
    cleaned = text.strip()
    if not cleaned:
        raise FieldError(f"`{param}` must not be empty: a segment says something.", param)
    if len(cleaned) > MAX_SEGMENT_CHARS:
        raise FieldError(f"`{param}` must be at most {MAX_SEGMENT_CHARS} characters.", param)
    return cleaned


def check_room(project: Project, adding: int) -> None:
    if len(project.segments) + adding > MAX_SEGMENTS:
        raise FieldError(f"A project holds at most {MAX_SEGMENTS} segments.", "segments")


def split(project: Project, segment_id: str, offset: int, new_segment_id: str) -> SegmentSplit:
    text = project.segment(segment_id).text
    first, second = split_at(text, offset) if 0 < offset < len(text) else ("", "")
    if not first or not second:
        raise FieldError(
            f"`offset` must fall inside the segment's text, leaving words on both sides "
            f"(1 to {len(text) - 1} for this segment of {len(text)} characters).",
            "offset",
        )
    check_room(project, 1)
    return SegmentSplit(segment_id=segment_id, offset=offset, new_segment_id=new_segment_id)


def merge_next(project: Project, segment_id: str) -> SegmentMerged:
    index = project.index_of(segment_id)
    if index + 1 >= len(project.segments):
        raise FieldError(f"Segment {segment_id!r} is the last one: there is no next segment.", "segment_id")
    nxt = project.segments[index + 1]
    check_segment_text(join_texts(project.segments[index].text, nxt.text), "text")
    return SegmentMerged(segment_id=segment_id, next_id=nxt.id)


def reorder(project: Project, order: Sequence[str]) -> SegmentsReordered:
    current = [segment.id for segment in project.segments]
    if len(order) != len(set(order)):
        raise FieldError("`segment_ids` names a segment twice.", "segment_ids")
    unknown = [segment_id for segment_id in order if segment_id not in set(current)]
    if unknown:
        raise FieldError(
            f"`segment_ids` names segments the project does not have: {unknown[:5]}.", "segment_ids"
        )
    if len(order) != len(current):
        raise FieldError(
            f"`segment_ids` must list every segment of the project once ({len(current)}), in the new order.",
            "segment_ids",
        )
    return SegmentsReordered(order=tuple(order))


def delete_segments(project: Project, segment_ids: Sequence[str]) -> SegmentsDeleted:
    if not segment_ids:
        raise FieldError("`segment_ids` must name at least one segment.", "segment_ids")
    for segment_id in segment_ids:
        project.segment(segment_id)
    return SegmentsDeleted(segment_ids=tuple(dict.fromkeys(segment_ids)))


def insert_index(project: Project, after_id: str | None, index: int | None) -> int:
    """Where new segments go: after ``after_id``, at ``index`` (0 … count), or at the end."""
    if after_id is not None:
        return project.index_of(after_id) + 1
    if index is None:
        return len(project.segments)
    if not 0 <= index <= len(project.segments):
        raise FieldError(f"`index` must be from 0 to {len(project.segments)}.", "index")
    return index


def content_at(events: Iterable[FoldInput], version: int) -> ProjectContent:
    """The project's content as of stream version ``version`` (what a snapshot names)."""
    project = fold(event for event in events if event[2] <= version)
    if project is None:
        raise ValueError(f"a studio project has no content at version {version}")
    return project.content
