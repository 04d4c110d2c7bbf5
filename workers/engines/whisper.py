"""Speech-to-text with Whisper through faster-whisper (CTranslate2, int8 on the CPU).

Only speech is decoded. Given silence or noise, Whisper invents words ("Thank you.", "you"), so
Silero VAD (bundled with faster-whisper) first finds the stretches of speech, and only those are
decoded, each on its own (faster-whisper's ``clip_timestamps``): times still count from the start
of the audio, speech on either side of a pause of ``SPEECH.min_silence_ms`` or more is never one
segment, and what Whisper still places outside every stretch (in the silence after the speech)
is dropped.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workers.engines.base import (
    SAMPLE_RATE,
    Audio,
    CapabilityError,
    Segment,
    SpeechSpan,
    TranscriptionInfo,
    VoiceActivityDetector,
    Word,
)


@dataclass(frozen=True)
class SpeechDetection:
    """How the stretches to decode are found (faster-whisper's own ``vad_filter`` defaults, but
    for the shortest speech: a click is not decoded)."""

    threshold: float = 0.5
    min_speech_ms: int = 250
    min_silence_ms: int = 2000
    speech_pad_ms: int = 400


SPEECH = SpeechDetection()


def default_cpu_threads() -> int:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, available or 1)


def normalize_language(language: str | None) -> str | None:
    """``"en-US"`` → ``"en"``; blank or ``"auto"`` → None (detect)."""
    if language is None:
        return None
    code = language.strip().lower().replace("_", "-").split("-")[0]
    return None if code in ("", "auto") else code


class WhisperEngine:
    """A loaded Whisper model. Segments are numbered from 0; their texts and words are stripped.

    ``vad`` finds the speech to decode (``load`` gives it Silero VAD); without one the whole audio
    is decoded."""

    def __init__(
        self,
        model: Any,
        *,
        model_id: str,
        beam_size: int = 5,
        cpu_threads: int = 0,
        vad: VoiceActivityDetector | None = None,
    ) -> None:
        self._model: Any = model
        self.model_id = model_id
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self._vad = vad

    @classmethod
    def load(
        cls, path: Path, *, model_id: str, cpu_threads: int | None = None, beam_size: int = 5
    ) -> WhisperEngine:
        from faster_whisper import WhisperModel

        from workers.engines.vad import SileroVad

        threads = cpu_threads or default_cpu_threads()
        model = WhisperModel(
            str(path), device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True
        )
        return cls(model, model_id=model_id, beam_size=beam_size, cpu_threads=threads, vad=SileroVad.load())

    def execution(self) -> dict[str, Any]:
        """Where the model runs, as CTranslate2 reports it (device, compute type, threads)."""
        backend = self._loaded().model
        device = str(backend.device)
        return {
            "device_kind": device.upper(),
            "dtype": backend.compute_type,
            "compute_type": backend.compute_type,
            "cpu_threads": self.cpu_threads if device == "cpu" else None,
        }

    @property
    def is_multilingual(self) -> bool:
        return bool(self._loaded().model.is_multilingual)

    @property
    def languages(self) -> list[str]:
        return list(self._loaded().supported_languages)

    def _loaded(self) -> Any:
        if self._model is None:
            raise RuntimeError(f"the {self.model_id} engine is closed")
        return self._model

    def transcribe(
        self,
        audio: Audio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        word_timestamps: bool = False,
    ) -> tuple[TranscriptionInfo, Iterator[Segment]]:
        model = self._loaded()
        code = normalize_language(language)
        if code is not None and code not in model.supported_languages:
            detail = "the model is English-only" if not model.model.is_multilingual else ""
            raise CapabilityError(self.model_id, f"language {language}", detail)
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        duration = samples.size / SAMPLE_RATE
        speech = self._speech(samples)
        if not speech:
            return self._silence(model, samples, code, duration), iter(())
        segments, info = model.transcribe(
            samples,
            language=code,
            initial_prompt=prompt or None,
            word_timestamps=word_timestamps,
            beam_size=self.beam_size,
            clip_timestamps=[time for span in speech for time in (span.start, span.end)],
        )
        result = TranscriptionInfo(
            language=info.language,
            duration=float(info.duration),
            language_probability=float(info.language_probability),
        )
        return result, _segments(segments, speech)

    def _speech(self, samples: Audio) -> list[SpeechSpan]:
        """The stretches to decode: where the VAD hears speech, or all of it without a VAD."""
        if self._vad is None:
            return [SpeechSpan(0.0, samples.size / SAMPLE_RATE)] if samples.size else []
        return self._vad.detect(
            samples,
            threshold=SPEECH.threshold,
            min_speech_ms=SPEECH.min_speech_ms,
            min_silence_ms=SPEECH.min_silence_ms,
            speech_pad_ms=SPEECH.speech_pad_ms,
        )

    def _silence(self, model: Any, samples: Audio, code: str | None, duration: float) -> TranscriptionInfo:
        """No speech, nothing decoded; a multilingual model still names the language it would have used."""
        if code is not None or not model.model.is_multilingual:
            return TranscriptionInfo(language=code or "en", duration=duration, language_probability=1.0)
        if samples.size == 0:
            return TranscriptionInfo(language="en", duration=duration, language_probability=None)
        language, probability, _ = model.detect_language(samples)
        return TranscriptionInfo(
            language=language, duration=duration, language_probability=float(probability)
        )

    def close(self) -> None:
        self._model = None
        gc.collect()


def _segments(segments: Iterable[Any], speech: list[SpeechSpan]) -> Iterator[Segment]:
    """Whisper's segments, less the words and segments it placed outside every stretch of speech
    (after a stretch's end, where only Whisper's padding is); a segment that loses words has the
    text of those it keeps."""
    index = 0
    for segment in segments:
        start, end = float(segment.start), float(segment.end)
        text = segment.text
        raw_words = list(segment.words or ())
        if raw_words:
            kept = [word for word in raw_words if _in_speech(float(word.start), float(word.end), speech)]
            if not kept:
                continue
            if len(kept) < len(raw_words):
                text = "".join(word.word for word in kept)
                start = start if kept[0] is raw_words[0] else float(kept[0].start)
                end = end if kept[-1] is raw_words[-1] else float(kept[-1].end)
            raw_words = kept
        elif not _in_speech(start, end, speech):
            continue
        words = tuple(
            Word(
                word=word.word.strip(),
                start=float(word.start),
                end=float(word.end),
                probability=float(word.probability),
            )
            for word in raw_words
        )
        yield Segment(id=index, start=start, end=end, text=text.strip(), words=words)
        index += 1


def _in_speech(start: float, end: float, speech: list[SpeechSpan]) -> bool:
    """Whether ``[start, end]`` begins inside a stretch of speech, or overlaps one."""
    return any(span.start <= start < span.end or (start < span.start < end) for span in speech)
