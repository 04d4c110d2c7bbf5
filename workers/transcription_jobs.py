"""The transcription actor: decode the stored audio, transcribe it segment by segment with one
event each, and after a crash resume from the end of the last recorded segment.

Generic on purpose: the OpenAI route and persisted speech-to-text jobs both run it with
``TranscriptionParams`` (a media digest, the model, language, prompt, word timestamps wanted,
an optional forced aligner).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from domain.catalog import Catalog, ModelVariant
from domain.transcription import (
    TRANSCRIBE_ACTOR,
    LanguageDetected,
    SegmentTranscribed,
    TranscriptionParams,
    TranscriptionResult,
    WordTiming,
    language_code,
    transcribed_segments,
    transcript_text,
)
from eventstore.media import MediaNotFound
from workers import runtime
from workers.actors import job_actor
from workers.engines.audio import AudioDecodeError, decode_audio
from workers.engines.base import (
    SAMPLE_RATE,
    Audio,
    CapabilityError,
    ForcedAligner,
    Segment,
    SpeechToText,
    TranscriptionInfo,
    Word,
)
from workflows.jobs import JobInputError, JobRun

TRANSCRIBING_ROUTE = "openai_audio_transcriptions"
ALIGNING_ROUTE = "forced_alignment"
# A resumed job whose recorded segments end this close to the end of the audio has nothing left
# to decode: Whisper pads a sliver of trailing silence to 30 s and may invent words for it.
MIN_RESUME_SECONDS = 0.5

Params = TypeVar("Params", bound=BaseModel)


# --- helpers shared with the alignment actor ---------------------------------------------


def job_params(model: type[Params], run: JobRun) -> Params:
    try:
        return model.model_validate(run.params)
    except ValidationError as error:
        raise JobInputError(f"invalid job parameters: {error.errors()[0]['msg']}") from error


def model_variant(catalog: Catalog, model_id: str, route: str, param: str) -> ModelVariant:
    variant = catalog.find(model_id)
    if variant is None:
        raise JobInputError(f"Unknown model {model_id!r}.", param=param)
    if not variant.can(route):
        raise JobInputError(f"Model {variant.id} cannot be used for {route}.", param=param)
    return variant


def stored_audio(digest: str) -> Audio:
    """The job's audio, decoded to 16 kHz mono; undecodable or missing audio is the client's fault."""
    try:
        data = runtime.media().read(digest)
    except (MediaNotFound, ValueError) as error:
        raise JobInputError(f"The uploaded audio is no longer stored: {error}", param="file") from error
    try:
        return decode_audio(data, SAMPLE_RATE)
    except AudioDecodeError as error:
        raise JobInputError(str(error), param="file") from error


def seconds(value: float) -> float:
    return round(value, 3)


def word_timing(word: Word, offset: float) -> WordTiming:
    probability = None if word.probability is None else round(word.probability, 3)
    return WordTiming(
        word=word.word,
        start=seconds(offset + word.start),
        end=seconds(offset + word.end),
        probability=probability,
    )


# --- word timestamps ---------------------------------------------------------------------


@dataclass
class WordTimer:
    """Word times for each segment: the ASR model's own, or a forced aligner's on the segment's audio.

    ``forced`` (an aligner was named) always aligns; otherwise the aligner is the fallback for
    segments the ASR model gives no word times for, loaded only if one needs it.
    """

    audio: Audio
    aligner: ModelVariant | None
    forced: bool
    sources: set[str] = field(default_factory=set)
    _engine: ForcedAligner | None = None

    def words(self, segment: Segment, offset: float) -> tuple[WordTiming, ...]:
        if not segment.text.strip():
            return ()
        if segment.words and not self.forced:
            self.sources.add("model")
            return tuple(word_timing(word, offset) for word in segment.words)
        if self.aligner is None:
            return ()
        start = offset + segment.start
        clip = self.audio[round(start * SAMPLE_RATE) : round((offset + segment.end) * SAMPLE_RATE)]
        if self._engine is None:
            self._engine = runtime.engines().get(self.aligner)
        self.sources.add("forced_alignment")
        return tuple(word_timing(word, start) for word in self._engine.align(clip, segment.text))

    def report(self) -> dict[str, Any]:
        """Where the word times came from; the aligner is named only when it was asked for or used."""
        named = self.forced or "forced_alignment" in self.sources
        aligner = self.aligner.id if self.aligner is not None and named else None
        return {"sources": sorted(self.sources), "aligner_model": aligner}


# --- the actor ---------------------------------------------------------------------------


def execution_details(engine: object) -> dict[str, Any]:
    """Where the engine runs: its own report when it gives one (Whisper does)."""
    execution = getattr(engine, "execution", None)
    if callable(execution):
        return dict(execution())
    return {"device_kind": "CPU"}  # Sauti's other engines are CPU builds (llama.cpp, torch-cpu, onnx)


def _decode(
    engine: SpeechToText,
    audio: Audio,
    language: str | None,
    params: TranscriptionParams,
    *,
    model_words: bool,
) -> tuple[TranscriptionInfo, Iterator[Segment]]:
    try:
        return engine.transcribe(audio, language=language, prompt=params.prompt, word_timestamps=model_words)
    except CapabilityError as error:
        raise JobInputError(str(error), param="language") from error


@dataclass(frozen=True)
class EarlierProgress:
    """What earlier attempts of the job recorded: decoding goes on after their last segment."""

    segments: list[SegmentTranscribed]
    language: LanguageDetected | None

    @classmethod
    def of(cls, run: JobRun) -> EarlierProgress:
        detected = run.kind_events(LanguageDetected.verb)
        return cls(
            segments=transcribed_segments((event.type, event.data) for event in run.recorded),
            language=LanguageDetected.model_validate(detected[0].data) if detected else None,
        )

    @property
    def offset(self) -> float:
        return self.segments[-1].end if self.segments else 0.0

    @property
    def next_id(self) -> int:
        return self.segments[-1].id + 1 if self.segments else 0


def _record_segments(
    run: JobRun, segments: Iterator[Segment], timer: WordTimer | None, offset: float, first_id: int
) -> None:
    """One event per segment as it is decoded; its times count from the start of the whole audio."""
    for segment in segments:
        run.checkpoint()
        segment_id = first_id + segment.id
        event = SegmentTranscribed(
            id=segment_id,
            start=seconds(offset + segment.start),
            end=seconds(offset + segment.end),
            text=segment.text,
            words=timer.words(segment, offset) if timer else (),
        )
        run.append(event, segment_id)


@job_actor(TRANSCRIBE_ACTOR)
def transcribe_audio(run: JobRun) -> dict[str, Any]:
    started = time.perf_counter()
    rt = runtime.current()
    params = job_params(TranscriptionParams, run)
    variant = model_variant(rt.catalog, params.model, TRANSCRIBING_ROUTE, "model")
    aligner = (
        model_variant(rt.catalog, params.aligner_model, ALIGNING_ROUTE, "aligner_model")
        if params.aligner_model
        else rt.catalog.default("alignment")
    )
    audio = stored_audio(params.audio)
    duration = audio.size / SAMPLE_RATE
    engine: SpeechToText = runtime.engines().get(variant)
    words = (
        WordTimer(audio, aligner, forced=params.aligner_model is not None) if params.word_timestamps else None
    )
    earlier = EarlierProgress.of(run)
    language = earlier.language
    run.checkpoint()

    if not earlier.segments or duration - earlier.offset >= MIN_RESUME_SECONDS:
        rest = audio[round(earlier.offset * SAMPLE_RATE) :]
        hint = language.language if language else language_code(params.language)
        info, segments = _decode(
            engine, rest, hint, params, model_words=words is not None and not words.forced
        )
        if language is None:
            probability = info.language_probability
            language = LanguageDetected(
                language=info.language,
                probability=None if probability is None else round(probability, 3),
                duration=seconds(duration),
            )
            run.append(language)
        _record_segments(run, segments, words, earlier.offset, earlier.next_id)

    transcribed = transcribed_segments((event.type, event.data) for event in run.recorded)
    elapsed = time.perf_counter() - started
    diagnostics = {
        "model": variant.id,
        "model_family": variant.family,
        "engine": variant.engine,
        "execution": {**execution_details(engine), "worker_id": run.worker, "attempt": run.state.attempt},
        "language_probability": language.probability if language else None,
        "word_timestamps": words.report() if words else None,
        "resumed": (
            {"from_segment": earlier.next_id, "from_seconds": seconds(earlier.offset)}
            if earlier.segments
            else None
        ),
    }
    result = TranscriptionResult(
        text=transcript_text(transcribed),
        language=language.language if language else (language_code(params.language) or ""),
        duration=seconds(duration),
        segment_count=len(transcribed),
        processing_time_ms=round(elapsed * 1000, 1),
        rtf=round(elapsed / duration, 4) if duration else 0.0,
        diagnostics=diagnostics,
    )
    return result.model_dump(mode="json")
