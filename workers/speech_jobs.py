"""The speech actor: synthesize a text sentence by sentence, one media object and event each.

The input is split into sentences up front (the plan, recorded once as
``speech.synthesis_planned`` after the model accepted the voice). Each sentence's samples are
stored as a media object (mono float32) and recorded as ``speech.chunk_synthesized`` with an
event id derived from the sentence's index, so a job redelivered after a crash skips the
sentences already recorded and never records one twice.

A speech history record (``record: true``, docs/speech-records.md) also gets its whole audio as
one WAV media object, named by the completed result's ``audio``: the chunks joined in order, so
its duration is theirs. Storing it again after a crash writes the same content-addressed object.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from domain.catalog import ModelVariant
from domain.sentences import split_sentences
from domain.speech import (
    COMPRESSED_FORMATS,
    SAMPLE_FORMAT,
    SPEECH,
    SpeechChunkSynthesized,
    SpeechParams,
    SpeechSynthesisPlanned,
    is_speakable,
    summarize,
)
from eventstore.media import MediaNotFound
from workers import runtime
from workers.actors import job_actor, job_model, job_params
from workers.engines.audio import AudioDecodeError, decode_audio, encode_audio
from workers.engines.base import SAMPLE_RATE, Audio, CapabilityError, SpeechSynthesizer
from workers.engines.tts_piper import DEFAULT_VOICE
from workers.record_behind import RecordBehind
from workflows.jobs import JobInputError, JobRun

# Fields an engine's ValueError may name first ("speed must be…", "reference_text … is required").
_FIELDS = ("speed", "reference_text", "reference_audio", "voice", "language")


def _field_named(message: str) -> str | None:
    first = message.split(" ", 1)[0]
    return first if first in _FIELDS else None


class Synthesis:
    """One job's calls into the engine, with its voice, speed, language and reference."""

    def __init__(self, engine: SpeechSynthesizer, variant: ModelVariant, params: SpeechParams) -> None:
        self.engine = engine
        self.variant = variant
        self.params = params
        self.extra: dict[str, Any] = {}
        if params.reference_audio is not None:
            self.extra = {
                "reference_audio": _reference_audio(params.reference_audio),
                "reference_text": params.reference_text,
                "reference_sample_rate": SAMPLE_RATE,
            }
        if params.instructions:
            self.extra["instructions"] = params.instructions

    def check(self) -> None:
        """Refuse the voice, language or speed before any work: engines check them when called,
        before the first chunk is asked for, so an empty text costs nothing."""
        speech = self.variant.speech
        if self.params.instructions and not (speech and speech.supports_voice_description):
            raise JobInputError(
                f"Model {self.variant.id} does not support `instructions` (voice design).",
                param="instructions",
            )
        try:
            self.engine.synthesize(
                "",
                voice=self.params.voice,
                speed=self.params.speed,
                language=self.params.language,
                **self.extra,
            )
        except CapabilityError as error:
            raise self._refusal(error) from error
        except ValueError as error:
            raise JobInputError(str(error), param=_field_named(str(error))) from error

    def _refusal(self, error: CapabilityError) -> JobInputError:
        field = error.capability.split(" ", 1)[0]
        if field != "voice":
            return JobInputError(str(error), param=field if field in _FIELDS else None)
        voices = ", ".join(self.engine.voices()) or "none"
        if self.params.voice is None:  # the engine chose its voice by the language
            return JobInputError(
                f"Model {self.variant.id} has no voice for language {self.params.language!r}. "
                f"Valid voices: {voices}.",
                param="language",
            )
        return JobInputError(
            f"Unknown voice {self.params.voice!r} for model {self.variant.id}. Valid voices: {voices}.",
            param="voice",
        )

    def speak(self, sentence: str) -> tuple[Audio, int]:
        """The sentence's samples (possibly none) and their sample rate."""
        pieces: list[Audio] = []
        sample_rate = self.engine.sample_rate
        chunks = self.engine.synthesize(
            sentence,
            voice=self.params.voice,
            speed=self.params.speed,
            language=self.params.language,
            **self.extra,
        )
        for chunk in chunks:
            if chunk.sample_rate != sample_rate:
                raise RuntimeError(f"{self.variant.id} changed its sample rate mid-stream")
            pieces.append(chunk.samples)
        samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        return samples.astype(np.float32, copy=False), sample_rate


def _reference_audio(digest: str) -> Audio:
    try:
        data = runtime.media().read(digest)
    except (MediaNotFound, ValueError) as error:
        raise JobInputError(
            f"The reference audio is no longer stored: {error}", param="reference_audio"
        ) from error
    try:
        return decode_audio(data, SAMPLE_RATE)
    except AudioDecodeError as error:
        raise JobInputError(str(error), param="reference_audio") from error


def speech_engine(variant: ModelVariant) -> SpeechSynthesizer:
    try:
        engine: SpeechSynthesizer = runtime.engines().get(variant)
    except CapabilityError as error:
        raise JobInputError(str(error), param="model") from error
    return engine


def _plan(
    run: JobRun, params: SpeechParams, engine: SpeechSynthesizer, sentences: int
) -> SpeechSynthesisPlanned:
    """The recorded plan, or a new one (recorded once: a redelivery reads the first attempt's)."""
    recorded = run.kind_events(SpeechSynthesisPlanned.verb)
    if recorded:
        return SpeechSynthesisPlanned.model_validate(recorded[0].data)
    plan = SpeechSynthesisPlanned(
        model=params.model,
        voice=params.voice or DEFAULT_VOICE,
        sample_rate=engine.sample_rate,
        sentence_count=sentences,
    )
    run.append(plan)
    return plan


def _joined(chunks: list[SpeechChunkSynthesized]) -> Audio:
    """The job's whole audio: its chunks' samples in order."""
    media = runtime.media()
    ordered = sorted(chunks, key=lambda chunk: chunk.sequence)
    parts = [np.frombuffer(media.read(chunk.media), dtype="<f4") for chunk in ordered]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _encoded(samples: Audio, sample_rate: int, fmt: str) -> str | None:
    """The samples in a compressed format, stored as a media object (None for no samples: an
    encoder given none has no frame to write)."""
    if samples.size == 0:
        return None
    return runtime.media().put(encode_audio(samples, sample_rate, fmt))


def _store_record_audio(chunks: list[SpeechChunkSynthesized], sample_rate: int) -> dict[str, Any]:
    """The record's whole audio, the chunks joined in order, stored as one WAV media object."""
    samples = _joined(chunks)
    digest = runtime.media().put(encode_audio(samples, sample_rate, "wav"))
    return {
        "audio": digest,
        "audio_format": "wav",
        "duration_secs": round(samples.size / sample_rate, 4) if sample_rate else 0.0,
    }


def _synthesize_remaining(
    run: JobRun, synthesis: Synthesis, sentences: list[str], audio_format: str | None
) -> None:
    """Synthesize the sentences not yet recorded, each recorded as a chunk (its media, fsynced,
    and its event) in order.

    The first chunk, the one a listener waits for, is recorded at once; later ones behind the
    engine (``RecordBehind``), while the next sentence is synthesized.
    """
    media = runtime.media()
    done = {event.data["sequence"] for event in run.kind_events(SpeechChunkSynthesized.verb)}
    remaining = [(index, sentence) for index, sentence in enumerate(sentences) if index not in done]

    def record(index: int, sentence: str, samples: Audio, sample_rate: int, generation_ms: float) -> None:
        chunk = SpeechChunkSynthesized(
            sequence=index,
            text=sentence,
            media=media.put(samples.astype("<f4").tobytes()),
            sample_format=SAMPLE_FORMAT,
            sample_rate=sample_rate,
            sample_count=int(samples.size),
            generation_ms=round(generation_ms, 2),
            is_final=index == len(sentences) - 1,
            encoded=_encoded(samples, sample_rate, audio_format) if audio_format else None,
        )
        run.append(chunk, index)

    run.checkpoint()
    with RecordBehind("speech-chunks") as behind:
        for count, (index, sentence) in enumerate(remaining):
            started = time.perf_counter()
            samples, sample_rate = synthesis.speak(sentence)
            generation_ms = (time.perf_counter() - started) * 1000
            if count == 0:
                record(index, sentence, samples, sample_rate, generation_ms)
                continue
            behind.wait()
            run.checkpoint()
            behind.submit(record, index, sentence, samples, sample_rate, generation_ms)


@job_actor(SPEECH)
def synthesize_speech(run: JobRun) -> dict[str, Any]:
    params = job_params(SPEECH, run)
    variant = job_model(SPEECH, params.model, params)
    sentences = [sentence for sentence in split_sentences(params.input) if is_speakable(sentence)]
    if not sentences:
        raise JobInputError("`input` has nothing to speak: it holds no letters or digits.", param="input")
    engine = speech_engine(variant)
    synthesis = Synthesis(engine, variant, params)
    synthesis.check()
    plan = _plan(run, params, engine, len(sentences))
    compressed = params.audio_format in COMPRESSED_FORMATS
    chunk_format = params.audio_format if compressed and params.stream else None
    _synthesize_remaining(run, synthesis, sentences, chunk_format)
    chunks = [
        SpeechChunkSynthesized.model_validate(e.data) for e in run.kind_events(SpeechChunkSynthesized.verb)
    ]
    result = {"model": variant.id, "voice": plan.voice, **summarize(chunks, plan.sample_rate).result()}
    if compressed and not params.stream:
        run.checkpoint()
        result["encoded_audio"] = _encoded(_joined(chunks), plan.sample_rate, params.audio_format)
    if params.record:
        run.checkpoint()
        result.update(_store_record_audio(chunks, plan.sample_rate))
    return result
