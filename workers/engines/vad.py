"""Voice activity detection with the Silero VAD model bundled inside faster-whisper (ONNX Runtime)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workers.engines.base import SAMPLE_RATE, Audio, SpeechSpan


def bundled_model_path() -> Path:
    from faster_whisper.utils import get_assets_path

    return Path(get_assets_path()) / "silero_vad_v6.onnx"


class SileroVad:
    """Speech spans in seconds. The ONNX session is faster-whisper's own, shared by the process."""

    def __init__(self, model: Any, *, model_id: str = "Silero-VAD") -> None:
        self._model: Any = model
        self.model_id = model_id

    @classmethod
    def load(cls, path: Path | None = None, *, model_id: str = "Silero-VAD") -> SileroVad:
        from faster_whisper.vad import get_vad_model

        bundled = bundled_model_path()
        if path is not None and Path(path).resolve() != bundled.resolve():
            raise ValueError(f"{model_id} runs the Silero VAD bundled with faster-whisper, not {path}")
        if not bundled.is_file():
            raise FileNotFoundError(f"the Silero VAD model is missing from faster-whisper: {bundled}")
        return cls(get_vad_model(), model_id=model_id)

    def detect(
        self,
        audio: Audio,
        *,
        threshold: float = 0.5,
        min_speech_ms: int = 250,
        min_silence_ms: int = 500,
        speech_pad_ms: int = 100,
    ) -> list[SpeechSpan]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        if self._model is None:
            raise RuntimeError(f"the {self.model_id} engine is closed")
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        if samples.size == 0:
            return []
        options = VadOptions(
            threshold=threshold,
            min_speech_duration_ms=min_speech_ms,
            min_silence_duration_ms=min_silence_ms,
            speech_pad_ms=speech_pad_ms,
        )
        timestamps = get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE)
        return [
            SpeechSpan(start=span["start"] / SAMPLE_RATE, end=span["end"] / SAMPLE_RATE)
            for span in timestamps
        ]

    def close(self) -> None:
        self._model = None
