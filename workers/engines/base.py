"""Engine ports: one small interface per capability, and the values they exchange.

Audio is always mono float32 samples in [-1, 1]; speech-to-text, VAD, alignment and
diarization take it at 16 kHz (``decode_audio`` produces that). Adapters load from a local
path (a directory or a file) and release their memory in ``close``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Audio = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float32]
"""Any float32 array an engine computes (features, embeddings, scores); ``Audio`` is samples."""
SAMPLE_RATE = 16_000
CACHE_DIR_ENV = "SAUTI_CACHE_DIR"
"""Where engines keep their caches (numba's compiled functions); a worker sets it to ``<data dir>/cache``."""


class CapabilityError(Exception):
    """The model cannot do what was asked (e.g. a text-only model given an image)."""

    def __init__(self, model: str, capability: str, detail: str = "") -> None:
        message = f"Model {model} does not support {capability}"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.model = model
        self.capability = capability


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class TranscriptionInfo:
    language: str
    duration: float
    language_probability: float | None = None


@dataclass(frozen=True)
class SpeechSpan:
    start: float
    end: float


@dataclass(frozen=True)
class SpeakerTurn:
    speaker: str
    start: float
    end: float


@dataclass(frozen=True)
class AudioChunk:
    samples: Audio
    sample_rate: int
    text: str = ""
    """The sentence this chunk speaks, where the engine streams sentence by sentence."""


@dataclass(frozen=True)
class CompletionChunk:
    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class CompletionRequest:
    messages: Sequence[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: Sequence[str] = ()
    grammar: str | None = None
    """A GBNF grammar that constrains the output (forced tool calls)."""
    tools: Sequence[dict[str, Any]] = ()
    """OpenAI-style tool definitions, rendered into the prompt by the model's chat template."""
    extra: dict[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    def close(self) -> None:
        """Release the model's memory."""
        ...


class SpeechToText(Engine, Protocol):
    def transcribe(
        self,
        audio: Audio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        word_timestamps: bool = False,
    ) -> tuple[TranscriptionInfo, Iterator[Segment]]:
        """Segments are produced lazily, in order, as decoding goes."""
        ...


class VoiceActivityDetector(Engine, Protocol):
    def detect(
        self,
        audio: Audio,
        *,
        threshold: float = 0.5,
        min_speech_ms: int = 250,
        min_silence_ms: int = 500,
        speech_pad_ms: int = 100,
    ) -> list[SpeechSpan]: ...


class ForcedAligner(Engine, Protocol):
    def align(self, audio: Audio, text: str) -> list[Word]: ...


class SpeakerEmbedder(Engine, Protocol):
    def embed(self, audio: Audio) -> npt.NDArray[np.float32]:
        """One L2-normalised speaker embedding for a clip."""
        ...


class Diarizer(Engine, Protocol):
    def diarize(
        self, audio: Audio, *, min_speakers: int | None = None, max_speakers: int | None = None
    ) -> list[SpeakerTurn]: ...


class ChatModel(Engine, Protocol):
    def complete(self, request: CompletionRequest) -> Iterator[CompletionChunk]:
        """Text deltas as they are generated; the last chunk has a finish_reason and usage."""
        ...

    @property
    def context_length(self) -> int:
        """Tokens the loaded model's context holds, prompt and answer together."""
        ...

    def count_prompt_tokens(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> int:
        """Tokens the prompt for these messages takes, chat template included."""
        ...


class SpeechSynthesizer(Engine, Protocol):
    @property
    def sample_rate(self) -> int: ...

    def voices(self) -> list[str]: ...

    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0, language: str | None = None
    ) -> Iterator[AudioChunk]: ...


class TextEmbedder(Engine, Protocol):
    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One L2-normalised row per text."""
        ...
