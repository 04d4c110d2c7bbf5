"""Speech-to-text with Whisper through faster-whisper (CTranslate2, int8 on the CPU)."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from workers.engines.base import Audio, CapabilityError, Segment, TranscriptionInfo, Word


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
    """A loaded Whisper model. Segments are numbered from 0; their texts and words are stripped."""

    def __init__(self, model: Any, *, model_id: str, beam_size: int = 5, cpu_threads: int = 0) -> None:
        self._model: Any = model
        self.model_id = model_id
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads

    @classmethod
    def load(
        cls, path: Path, *, model_id: str, cpu_threads: int | None = None, beam_size: int = 5
    ) -> WhisperEngine:
        from faster_whisper import WhisperModel

        threads = cpu_threads or default_cpu_threads()
        model = WhisperModel(
            str(path), device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True
        )
        return cls(model, model_id=model_id, beam_size=beam_size, cpu_threads=threads)

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
        samples = np.asarray(audio, dtype=np.float32)
        segments, info = model.transcribe(
            samples,
            language=code,
            initial_prompt=prompt or None,
            word_timestamps=word_timestamps,
            beam_size=self.beam_size,
        )
        result = TranscriptionInfo(
            language=info.language,
            duration=float(info.duration),
            language_probability=float(info.language_probability),
        )
        return result, _segments(segments)

    def close(self) -> None:
        self._model = None
        gc.collect()


def _segments(segments: Iterable[Any]) -> Iterator[Segment]:
    for index, segment in enumerate(segments):
        words = tuple(
            Word(
                word=word.word.strip(),
                start=float(word.start),
                end=float(word.end),
                probability=float(word.probability),
            )
            for word in segment.words or ()
        )
        yield Segment(
            id=index,
            start=float(segment.start),
            end=float(segment.end),
            text=segment.text.strip(),
            words=words,
        )
