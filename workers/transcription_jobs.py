"""The transcription actor: decode the stored audio, transcribe it segment by segment with one
event each, and after a crash resume from the end of the last recorded segment.

Generic on purpose: the OpenAI route and persisted speech-to-text jobs both run it with
``TranscriptionParams`` (a media digest, the model, language, prompt, word timestamps wanted,
an optional forced aligner). Audio of any length is decoded once to a temporary file and
transcribed window by window (``workers.audio_windows``: at most 2 minutes, cut at a silence),
so memory does not grow with the recording.

Speaker-attributed ASR (``job_kind: speaker_attributed_asr``) diarizes the audio first
(``transcription.speakers_found``), then transcribes each speaker's stretch of speech on its own
(``domain.speaker_attribution``), so every segment has its speaker, and ends with the speaker
turns and their text (``transcription.speakers_attributed``). ``generate_summary`` asks for the
record's summary before the job completes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from domain.catalog import Catalog, ModelVariant
from domain.diarization import DIARIZATION, SpeakersAttributed, SpeakersFound, SpeakerTurnData
from domain.speaker_attribution import speaker_pieces, speaker_transcript
from domain.stt_records import SAA, SAA_STEP_PERCENTS, progress_milestone, segment_progress
from domain.transcription import (
    ALIGNMENT,
    TRANSCRIPTION,
    LanguageDetected,
    SegmentTranscribed,
    TranscriptionParams,
    TranscriptionResult,
    WordTiming,
    language_code,
    transcribed_segments,
    transcript_text,
)
from workers import runtime
from workers.actors import job_actor, job_model, job_params
from workers.audio_windows import DecodedAudio, seconds, stored_audio_file, stored_audio_path, windows
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
from workers.speakers import diarize, recorded_speakers, speaker_bounds, speaker_engine
from workers.summary_jobs import request_record_summary
from workflows.jobs import JobInputError, JobRun

# A window this short after decoded audio (the tail after a resume, or after the last cut) has
# nothing worth decoding: Whisper pads a sliver of trailing silence to 30 s and may invent words.
MIN_RESUME_SECONDS = 0.5

# --- helpers shared with the alignment actor ---------------------------------------------


def stored_audio(digest: str) -> Audio:
    """The job's audio, decoded whole to 16 kHz mono (short clips); undecodable or missing audio
    is the client's fault."""
    path = stored_audio_path(digest)
    try:
        return decode_audio(path, SAMPLE_RATE)
    except AudioDecodeError as error:
        raise JobInputError(str(error), param="file") from error


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

    aligner: ModelVariant | None
    forced: bool
    sources: set[str] = field(default_factory=set)
    _engine: ForcedAligner | None = None

    def words(self, segment: Segment, window: Audio, offset: float) -> tuple[WordTiming, ...]:
        """``segment``'s words; its times count from the start of ``window``, at ``offset`` s."""
        if not segment.text.strip():
            return ()
        if segment.words and not self.forced:
            self.sources.add("model")
            return tuple(word_timing(word, offset) for word in segment.words)
        if self.aligner is None:
            return ()
        clip = window[round(segment.start * SAMPLE_RATE) : round(segment.end * SAMPLE_RATE)]
        if self._engine is None:
            self._engine = runtime.engines().get(self.aligner)
        self.sources.add("forced_alignment")
        start = offset + segment.start
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


@dataclass(frozen=True)
class SegmentProgress:
    """Reports the job's progress each time a decoded segment passes the next milestone (5 %,
    10 % …); a resumed attempt does not report a milestone an earlier one did."""

    run: JobRun
    job_kind: str
    duration: float

    def segment_ended(self, end: float) -> None:
        milestone = progress_milestone(segment_progress(self.job_kind, end, self.duration))
        if milestone > progress_milestone(segment_progress(self.job_kind, 0.0, self.duration)):
            self.run.progress("transcription", float(milestone))


def _record_segments(
    run: JobRun,
    segments: Iterator[Segment],
    window: Audio,
    timer: WordTimer | None,
    offset: float,
    first_id: int,
    speaker: str | None,
    progress: SegmentProgress,
) -> int:
    """One event per segment as it is decoded; its times count from the start of the whole audio.

    Returns the id the next segment gets.
    """
    next_id = first_id
    length = window.size / SAMPLE_RATE
    for decoded in segments:
        run.checkpoint()
        segment = _within(decoded, length)
        segment_id = first_id + segment.id
        event = SegmentTranscribed(
            id=segment_id,
            start=seconds(offset + segment.start),
            end=seconds(offset + segment.end),
            text=segment.text,
            words=timer.words(segment, window, offset) if timer else (),
            speaker=speaker,
        )
        run.append(event, segment_id)
        progress.segment_ended(event.end)
        next_id = segment_id + 1
    return next_id


def _within(segment: Segment, length: float) -> Segment:
    """The segment with no time past the end of its window: Whisper pads the audio to 30 s and
    may time the last words beyond it, into what the next window decodes."""
    if segment.end <= length:
        return segment
    words = tuple(replace(w, start=min(w.start, length), end=min(w.end, length)) for w in segment.words)
    return replace(segment, start=min(segment.start, length), end=length, words=words)


def _transcribe(
    run: JobRun,
    engine: SpeechToText,
    audio: DecodedAudio,
    params: TranscriptionParams,
    timer: WordTimer | None,
    earlier: EarlierProgress,
    pieces: list[SpeakerTurnData] | None,
) -> LanguageDetected | None:
    """Decode the audio after the recorded segments, window by window; the language detected in
    the first window holds for the others. ``pieces``: decode only these stretches, each one
    speaker's (speaker-attributed ASR), rather than the whole audio."""
    language = earlier.language
    hint = language.language if language else language_code(params.language)
    progress = SegmentProgress(run, params.job_kind, audio.duration)
    next_id = earlier.next_id
    resume_at = round(earlier.offset * SAMPLE_RATE)
    stretches = (
        [(None, 0, audio.samples)]
        if pieces is None
        else [(p.speaker, round(p.start * SAMPLE_RATE), round(p.end * SAMPLE_RATE)) for p in pieces]
    )
    for speaker, start, end in stretches:
        for first, last in windows(audio, max(start, resume_at), end):
            # A window that starts a stretch is decoded however short (a speaker's "yes").
            if first > start and last - first < MIN_RESUME_SECONDS * SAMPLE_RATE:
                continue
            window = audio.read(first, last)
            info, segments = _decode(
                engine, window, hint, params, model_words=timer is not None and not timer.forced
            )
            if language is None:
                probability = info.language_probability
                language = LanguageDetected(
                    language=info.language,
                    probability=None if probability is None else round(probability, 3),
                    duration=seconds(audio.duration),
                )
                run.append(language)
                hint = language.language
            next_id = _record_segments(
                run, segments, window, timer, first / SAMPLE_RATE, next_id, speaker, progress
            )
    return language


def _speakers(run: JobRun, audio: DecodedAudio, params: TranscriptionParams, diarizer: Any) -> SpeakersFound:
    """Who speaks when (once per run: a redelivered job keeps the turns it found)."""
    found = recorded_speakers(run)
    if found is not None:
        return found
    return diarize(
        run,
        audio,
        diarizer,
        min_speakers=params.min_speakers,
        max_speakers=params.max_speakers,
        percents=SAA_STEP_PERCENTS,
    )


def _attribute_speakers(run: JobRun, found: SpeakersFound) -> SpeakersAttributed:
    """The speaker turns with their text, from the transcribed segments (once per run)."""
    done = run.kind_events(SpeakersAttributed.verb)
    if done:
        return SpeakersAttributed.model_validate(done[-1].data)
    segments = transcribed_segments((event.type, event.data) for event in run.recorded)
    speakers, turns = speaker_transcript(found.speakers, segments)
    event = SpeakersAttributed(speakers=speakers, turns=turns)
    run.append(event)
    return event


def _diarization_model(catalog: Catalog, params: TranscriptionParams) -> ModelVariant | None:
    """The diarization model of a speaker-attributed job (None for a plain transcription)."""
    if params.job_kind != SAA:
        return None
    speaker_bounds(params.min_speakers, params.max_speakers)
    default = catalog.default("diarization")
    model_id = params.diarization_model or (default.id if default else "")
    return job_model(DIARIZATION, model_id, param="diarization_model")


@job_actor(TRANSCRIPTION)
def transcribe_audio(run: JobRun) -> dict[str, Any]:
    started = time.perf_counter()
    rt = runtime.current()
    params = job_params(TRANSCRIPTION, run)
    variant = job_model(TRANSCRIPTION, params.model, params)
    aligner = (
        job_model(ALIGNMENT, params.aligner_model, param="aligner_model")
        if params.aligner_model
        else rt.catalog.default("alignment")
    )
    diarization_model = _diarization_model(rt.catalog, params)
    engine: SpeechToText = runtime.engines().get(variant)
    # Loaded before transcribing: a diarizer that cannot load fails the job at once.
    diarizer = speaker_engine(diarization_model, "diarization_model") if diarization_model else None
    # Speakers are given words, so a speaker-attributed job always times them.
    timer = (
        WordTimer(aligner, forced=params.aligner_model is not None)
        if params.word_timestamps or diarizer is not None
        else None
    )
    earlier = EarlierProgress.of(run)
    speakers = None
    with stored_audio_file(params.audio) as audio:
        duration = audio.duration
        run.checkpoint()
        found = _speakers(run, audio, params, diarizer) if diarizer is not None else None
        pieces = speaker_pieces(found.turns) if found is not None else None
        language = _transcribe(run, engine, audio, params, timer, earlier, pieces)
        if found is not None:
            speakers = _attribute_speakers(run, found)
    if params.generate_summary:
        request_record_summary(run)

    transcribed = transcribed_segments((event.type, event.data) for event in run.recorded)
    elapsed = time.perf_counter() - started
    diagnostics = {
        "model": variant.id,
        "model_family": variant.family,
        "engine": variant.engine,
        "execution": {**execution_details(engine), "worker_id": run.worker, "attempt": run.state.attempt},
        "language_probability": language.probability if language else None,
        "word_timestamps": timer.report() if timer else None,
        "resumed": (
            {"from_segment": earlier.next_id, "from_seconds": seconds(earlier.offset)}
            if earlier.segments
            else None
        ),
    }
    if diarization_model is not None:
        diagnostics["diarization_model"] = diarization_model.id
    result = TranscriptionResult(
        text=transcript_text(transcribed),
        language=language.language if language else (language_code(params.language) or ""),
        duration=seconds(duration),
        segment_count=len(transcribed),
        processing_time_ms=round(elapsed * 1000, 1),
        rtf=round(elapsed / duration, 4) if duration else 0.0,
        diagnostics=diagnostics,
        speaker_count=len(speakers.speakers) if speakers else None,
    )
    return result.model_dump(mode="json", exclude={"speaker_count"} if speakers is None else None)
