"""The Studio render actor: synthesize the segments of a project whose audio does not exist yet.

The job renders the project as it was when the render was asked for (``project_version``). Each
segment's audio is keyed by its spoken text, voice, model and speed (``domain.studio_renders``);
a key the project already has audio for is reused. Each segment synthesized is stored as a media
object and recorded in the project's stream as ``studio.segment_audio_rendered``, with an event
id derived from the project and the key: a job redelivered after a crash finds what it rendered
before and synthesizes only the rest, and two renders of one key record it once. Progress is
reported per segment; a cancel is honoured between segments. A segment is recorded while the
next one is synthesized (``RecordBehind``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from domain.errors import NotFound
from domain.events import deterministic_event_id, stream_id
from domain.speech import SpeechParams
from domain.studio import CATEGORY as PROJECT_CATEGORY
from domain.studio import Project, SegmentAudioRendered, content_at, fold_input
from domain.studio_renders import (
    MAX_DEFERRALS,
    STUDIO_RENDER,
    RenderDeferred,
    RenderParams,
    RenderResult,
    render_key,
    segment_voice,
    selected,
)
from eventstore.base import EventStore, RecordedEvent
from workers import runtime
from workers.actors import job_actor, job_model, job_params
from workers.record_behind import RecordBehind
from workers.speech_jobs import Synthesis, speech_engine
from workflows.jobs import Along, JobDeferred, JobInputError, JobRun, to_new_event
from workflows.studio import load_project

STEP = "segments"


def _project(store: EventStore, project_id: str) -> tuple[Project, list[RecordedEvent]]:
    project, recorded = load_project(store, project_id)
    if project is None:
        raise JobInputError(f"Studio project {project_id!r} no longer exists.", param="project_id")
    return project, recorded


def _audio_event(run: JobRun, project_id: str, audio: SegmentAudioRendered) -> Along:
    """The project's ``segment_audio_rendered``, with an id derived from the project and the key."""
    stream = stream_id(PROJECT_CATEGORY, project_id)
    event_id = deterministic_event_id(stream, audio.verb, audio.key)
    metadata = {**run.metadata, "causation_id": run.message_id, "correlation_id": run.stream_id}
    return stream, to_new_event(PROJECT_CATEGORY, audio, event_id, metadata)


def _synthesis(
    made: dict[tuple[str, str | None, float], Synthesis],
    model: str,
    voice: str | None,
    speed: float,
    params: RenderParams,
) -> Synthesis:
    """The engine call for a model, voice and speed, checked once per job."""
    found = made.get((model, voice, speed))
    if found is None:
        variant = job_model(STUDIO_RENDER, model, params)
        speech = SpeechParams(model=variant.id, input="-", voice=voice, speed=speed)
        found = made[(model, voice, speed)] = Synthesis(speech_engine(variant), variant, speech)
        found.check()
    return found


def give_way(run: JobRun, job_id: str, done: int, settle: Callable[[], None] = lambda: None) -> None:
    """Go back to the queue when a render of a higher priority waits to start (every segment
    rendered so far is kept: the next attempt renders only the rest). ``settle`` waits for the
    segment being recorded, before the run is touched here."""
    queue = runtime.current().render_queue
    behind = queue.outranked_by(job_id) if queue is not None else None
    if behind is None:
        return
    settle()
    deferred = len(run.kind_events(RenderDeferred.verb))
    if deferred >= MAX_DEFERRALS:
        return
    run.append(RenderDeferred(behind=behind, done=done), deferred)
    raise JobDeferred(f"render {job_id} gives way to render {behind}, of a higher priority")


@job_actor(STUDIO_RENDER)
def render_studio_project(run: JobRun) -> dict[str, Any]:
    params = job_params(STUDIO_RENDER, run)
    job_model(STUDIO_RENDER, params.model, params)
    project, recorded = _project(run.store, params.project_id)
    content = content_at(fold_input(recorded), params.project_version)
    as_asked = Project(project.id, content, params.project_version)
    try:
        segments = selected(as_asked, params.segment_ids)
    except NotFound as error:
        raise JobInputError(str(error), param="segment_ids") from error
    job_id = run.stream_id.partition("-")[2]
    known = dict(project.audio)
    media = runtime.media()
    syntheses: dict[tuple[str, str | None, float], Synthesis] = {}
    total = len(segments)

    def record(
        done: int, segment_id: str, key: str, samples: Any, sample_rate: int, generation_ms: float
    ) -> None:
        rendered = SegmentAudioRendered(
            segment_id=segment_id,
            key=key,
            media=media.put(samples.astype("<f4").tobytes()),
            sample_rate=sample_rate,
            sample_count=int(samples.size),
            render_job_id=job_id,
        )
        detail = {"segment_id": segment_id, "done": done, "total": total, "synthesized": True}
        run.progress(
            STEP,
            round(100 * done / total, 2),
            {**detail, "generation_ms": round(generation_ms, 2)},
            along=[_audio_event(run, params.project_id, rendered)],
        )
        known[key] = rendered

    run.checkpoint()
    give_way(run, job_id, 0)
    asked: set[str] = set(known)
    with RecordBehind("studio-segments") as behind:
        for done, segment in enumerate(segments, start=1):
            spoken = segment_voice(content, segment)
            key = render_key(spoken)
            if key in asked:
                behind.wait()
                detail = {"segment_id": segment.id, "done": done, "total": total, "synthesized": False}
                run.progress(STEP, round(100 * done / total, 2), detail)
                continue
            synthesis = _synthesis(syntheses, spoken.model, spoken.voice, spoken.speed, params)
            started = time.perf_counter()
            samples, sample_rate = synthesis.speak(spoken.text)
            generation_ms = (time.perf_counter() - started) * 1000
            asked.add(key)
            behind.wait()
            run.checkpoint()
            behind.submit(record, done, segment.id, key, samples, sample_rate, generation_ms)
            if done < total:
                give_way(run, job_id, done, behind.wait)
    keys = [render_key(segment_voice(content, segment)) for segment in segments]
    ours = tuple(s.id for s, key in zip(segments, keys, strict=True) if known[key].render_job_id == job_id)
    rate = known[keys[0]].sample_rate if keys else 0
    sample_count = sum(known[key].sample_count for key in keys)
    return RenderResult(
        project_id=params.project_id,
        project_version=params.project_version,
        segment_count=len(segments),
        synthesized=ours,
        reused=len(segments) - len(ours),
        duration_secs=round(sample_count / rate, 4) if rate else 0.0,
    ).model_dump(mode="json")
