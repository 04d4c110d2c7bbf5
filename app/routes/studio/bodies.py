"""Studio request bodies: each field read by its ``domain.fields`` reader, so an invalid one is a
400 naming it."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from app.http.request_body import BodyModel, one_of
from domain import fields as read
from domain.fields import FieldError, Passed
from domain.studio import (
    MAX_META_CHARS,
    MAX_NAME_CHARS,
    MAX_PAUSE_MS,
    MAX_PROJECT_CHARS,
    MAX_SEGMENT_CHARS,
    MAX_SPEED,
    MIN_SPEED,
)
from domain.studio_renders import MAX_PRIORITY, MIN_PRIORITY
from domain.studio_schedules import MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS

Name = Annotated[str | None, read.text(strip=True, max_chars=MAX_NAME_CHARS)]
Speed = Annotated[float | None, read.number(MIN_SPEED, MAX_SPEED)]
Pause = Annotated[int | None, read.integer(0, maximum=MAX_PAUSE_MS)]
Text = Annotated[str | None, read.text(max_chars=MAX_SEGMENT_CHARS)]
OptionalId = Annotated[str | None, read.text(strip=True)]


class FolderBody(BodyModel):
    """A folder: its `name`."""

    requires = ("name",)
    name: Name = Field(None, description="What to call the folder.", examples=["Audiobooks"])


class SegmentFields(BodyModel):
    """A segment's settings; null or absent takes the project's."""

    voice: OptionalId = Field(None, description="The voice for this segment.")
    model: OptionalId = Field(None, description="The TTS model for this segment.")
    speed: Speed = Field(None, description=f"Speaking speed, {MIN_SPEED} to {MAX_SPEED}.")
    pause_after_ms: Pause = Field(None, description=f"Silence after the segment, 0 to {MAX_PAUSE_MS} ms.")


class ProjectSettingsBody(BodyModel):
    """The project's settings that a PATCH may change (each optional)."""

    name: Name = Field(None, description="The project's name.", examples=["Chapter one"])
    folder_id: OptionalId = Field(None, description="The folder it is in (null: none).")
    model: OptionalId = Field(None, description="The project's TTS model (a Studio-capable one).")
    voice: OptionalId = Field(None, description="The project's voice.")
    speed: Speed = Field(None, description=f"Speaking speed, {MIN_SPEED} to {MAX_SPEED}.")
    pause_after_ms: Pause = Field(None, description="Silence after each segment by default.")


class ProjectBody(ProjectSettingsBody):
    """A new project: `name` and its `text` (split into segments: paragraphs, then sentences where a
    paragraph is long), or `segments` given one by one; `model` defaults to the default TTS model."""

    requires = ("name",)
    text: Annotated[str | None, read.text(max_chars=MAX_PROJECT_CHARS)] = Field(
        None, description="The whole text; blank lines separate paragraphs."
    )
    segments: Annotated[list[dict[str, Any]] | None, Passed] = Field(
        None,
        description="Segments one by one: `text`, optional `voice`, `model`, `speed`, `pause_after_ms`.",
    )
    meta: Annotated[dict[str, Any] | None, Passed] = Field(
        None, description="Your own metadata (author, language, notes…)."
    )


class MetaBody(BodyModel):
    """The project's metadata: the fields given replace those of the same name (null removes one)."""

    meta: Annotated[dict[str, Any] | None, Passed] = Field(
        None, description="Fields to set; null removes one."
    )


class NewSegmentsBody(SegmentFields):
    """New segments: `text` (split as a project's is) after `after_segment_id` or at `index`."""

    requires = ("text",)
    text: Annotated[str | None, read.text(max_chars=MAX_PROJECT_CHARS)] = Field(
        None, description="The text.", examples=["A new paragraph to read."]
    )
    after_segment_id: OptionalId = Field(None, description="Insert after this segment.")
    index: Annotated[int | None, read.integer(0)] = Field(None, description="Insert at this index.")


class SegmentEditBody(SegmentFields):
    """A segment's edit: only the fields sent change (null sets a setting back to the project's)."""

    text: Text = Field(None, description="The segment's text.")


class SplitBody(BodyModel):
    requires = ("offset",)
    offset: Annotated[int | None, read.integer(0)] = Field(
        None, description="A character offset in the text.", examples=[12]
    )


class SegmentIdsBody(BodyModel):
    requires = ("segment_ids",)
    segment_ids: Annotated[list[str] | None, Passed] = Field(
        None, description="Segment ids.", examples=[["3f2a…", "9c1b…"]]
    )


class PronunciationBody(BodyModel):
    """Say `replacement` wherever `term` is written."""

    requires = ("term", "replacement")
    term: Annotated[str | None, read.text(strip=True, max_chars=200)] = Field(None, examples=["Sauti"])
    replacement: Annotated[str | None, read.text(strip=True, max_chars=400)] = Field(
        None, examples=["sah-oo-tee"]
    )
    whole_word: Annotated[bool | None, read.flag()] = Field(
        None, description="Match whole words only (default true)."
    )
    case_sensitive: Annotated[bool | None, read.flag()] = Field(
        None, description="Match case (default false)."
    )


class SnapshotBody(BodyModel):
    """A snapshot of the project as it is now: its `name` (optional)."""

    optional = True
    name: Name = Field(None, description="What to call the snapshot.")


Priority = Annotated[int | None, read.integer(MIN_PRIORITY, maximum=MAX_PRIORITY)]
PRIORITY_HELP = (
    f"{MIN_PRIORITY} to {MAX_PRIORITY} (default 0): a queued render of a higher priority starts "
    "first, and a running one of a lower priority gives way to it between segments."
)


class RenderBody(BodyModel):
    """A render job: every segment, or `segment_ids` only, at a `priority`."""

    optional = True
    segment_ids: Annotated[list[str] | None, Passed] = Field(None, description="Only these segments.")
    priority: Priority = Field(None, description=PRIORITY_HELP)


class RenderChangeBody(BodyModel):
    """Cancel a render job (`status: "cancelled"` or `action: "cancel"`) or change its `priority`."""

    status: OptionalId = Field(None, description='"cancelled" cancels the job.')
    action: OptionalId = Field(None, description='"cancel" cancels the job.')
    priority: Priority = Field(None, description=PRIORITY_HELP, examples=[5])


def meta_size_check(meta: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(meta)) > MAX_META_CHARS:
        raise FieldError(f"`meta` must be at most {MAX_META_CHARS} characters as JSON.", "meta")
    return meta


class ScheduleFields(BodyModel):
    """A schedule's settings that a PATCH may change (each optional; only those sent change)."""

    name: Name = Field(None, description="What to call the schedule.", examples=["Nightly chapter render"])
    project_id: OptionalId = Field(
        None, description="The project it renders (or give `folder_id`).", examples=["3f2a9c…"]
    )
    folder_id: OptionalId = Field(None, description="Render every project of this folder instead.")
    cron: Annotated[str | None, read.text(strip=True, max_chars=200)] = Field(
        None,
        description="A five-field cron expression (minute hour day month weekday).",
        examples=["0 6 * * *"],
    )
    interval_seconds: Annotated[
        int | None, read.integer(MIN_INTERVAL_SECONDS, maximum=MAX_INTERVAL_SECONDS)
    ] = Field(None, description="Or run every this many seconds.")
    timezone: Annotated[str | None, read.text(strip=True, max_chars=64)] = Field(
        None, description="The cron expression's time zone (IANA name; default UTC)."
    )
    enabled: Annotated[bool | None, read.flag()] = Field(None, description="Whether it runs (default true).")
    coalesce: Annotated[bool | None, read.flag()] = Field(
        None, description="Ticks missed while the server was down run once, not once each (default true)."
    )
    export_path: Annotated[str | None, read.text(strip=True, max_chars=1024)] = Field(
        None,
        description="A media path (`/v1/media/…`) each run's audio is stored at; for a folder, a "
        "directory that gets `<project id>.<format>` per project. Null: no export.",
        examples=["studio/nightly/chapter-one.mp3"],
    )
    export_format: Annotated[str | None, read.text(strip=True)] = Field(
        None, description="wav (default), raw_i16, raw_f32, mp3, opus or flac."
    )


class ScheduleBody(ScheduleFields):
    """A new schedule: what it renders (`project_id` or `folder_id`) and when (`cron` or
    `interval_seconds`), and where each run's audio goes (`export_path`, `export_format`)."""

    requires = ("name", one_of("project_id", "folder_id"), one_of("cron", "interval_seconds"))
