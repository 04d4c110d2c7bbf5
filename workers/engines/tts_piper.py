"""Piper text-to-speech (ONNX voices), streamed one sentence at a time.

A voice is an ``.onnx`` model with its ``.onnx.json`` config beside it. The text is split into
sentences here, so each chunk carries the sentence it speaks and is yielded as soon as that
sentence is synthesized; piper normalises each sentence's peak to full scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from domain.sentences import split_sentences
from workers.engines.base import AudioChunk, CapabilityError

if TYPE_CHECKING:
    from piper import PiperVoice, SynthesisConfig

DEFAULT_VOICE = "default"


def check_speed(speed: float) -> float:
    if not math.isfinite(speed) or speed <= 0:
        raise ValueError(f"speed must be a positive number, not {speed}")
    return speed


def _model_file(path: Path) -> Path:
    if path.is_dir():
        models = sorted(path.glob("*.onnx"))
        if len(models) != 1:
            raise FileNotFoundError(f"expected one .onnx voice in {path}, found {len(models)}")
        return models[0]
    if not path.is_file():
        raise FileNotFoundError(f"Piper voice {path} does not exist")
    return path


class PiperEngine:
    """A loaded Piper voice (SpeechSynthesizer)."""

    def __init__(self, voice: PiperVoice, *, model_id: str) -> None:
        self._voice: PiperVoice | None = voice
        self.model_id = model_id
        config = voice.config
        self._sample_rate = int(config.sample_rate)
        self._speakers: dict[str, int] = dict(config.speaker_id_map)
        self._length_scale = float(config.length_scale)
        self.language = str(config.espeak_voice)
        """The espeak voice the model phonemizes with, e.g. ``en-us``."""

    @classmethod
    def load(cls, path: Path, *, model_id: str) -> PiperEngine:
        """Load ``path`` (the ``.onnx`` file, or a directory holding exactly one)."""
        from piper import PiperVoice

        model = _model_file(path)
        config = model.with_name(model.name + ".json")
        if not config.is_file():
            raise FileNotFoundError(f"Piper voice config {config} does not exist")
        return cls(PiperVoice.load(model, config_path=config), model_id=model_id)

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def voices(self) -> list[str]:
        if not self._speakers:
            return [DEFAULT_VOICE]
        return sorted(self._speakers, key=lambda name: self._speakers[name])

    def _speaker_id(self, voice: str | None) -> int | None:
        if voice is None or (voice == DEFAULT_VOICE and not self._speakers):
            return None
        if voice in self._speakers:
            return self._speakers[voice]
        raise CapabilityError(self.model_id, f"voice {voice!r}", f"its voices are {', '.join(self.voices())}")

    def _check_language(self, language: str | None) -> None:
        if not language:
            return
        wanted = language.replace("_", "-").lower()
        own = self.language.replace("_", "-").lower()
        if wanted != own and wanted.split("-")[0] != own.split("-")[0]:
            raise CapabilityError(self.model_id, f"language {language!r}", f"it speaks {self.language}")

    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0, language: str | None = None
    ) -> Iterator[AudioChunk]:
        """One chunk per sentence, each yielded as soon as it is synthesized.

        The voice, language and speed are checked here, before the first chunk is asked for.
        """
        from piper import SynthesisConfig

        loaded = self._loaded()
        config = SynthesisConfig(
            speaker_id=self._speaker_id(voice),
            length_scale=self._length_scale / check_speed(speed),
        )
        self._check_language(language)
        return self._stream(loaded, split_sentences(text), config)

    def _stream(
        self, voice: PiperVoice, sentences: list[str], config: SynthesisConfig
    ) -> Iterator[AudioChunk]:
        for sentence in sentences:
            pieces = [chunk.audio_float_array for chunk in voice.synthesize(sentence, syn_config=config)]
            if not pieces:
                continue  # nothing speakable (punctuation only)
            samples = np.concatenate(pieces).astype(np.float32, copy=False)
            yield AudioChunk(samples=samples, sample_rate=self._sample_rate, text=sentence)

    def _loaded(self) -> PiperVoice:
        if self._voice is None:
            raise RuntimeError(f"{self.model_id} is closed")
        return self._voice

    def close(self) -> None:
        self._voice = None
