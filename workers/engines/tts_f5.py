"""F5-TTS: zero-shot voice cloning from a few seconds of reference audio and its transcript.

An optional engine: the ``f5`` extra installs ``f5-tts`` (and torch), and its weights are
placed in the variant's directory, since nothing is downloaded at run time::

    <path>/model_*.safetensors   (or one *.pt / *.safetensors checkpoint; or both files in
    <path>/vocab.txt              <path>/F5TTS_v1_Base/, as the admin download places them)
    <path>/vocos/config.yaml      (the charactr/vocos-mel-24khz vocoder)
    <path>/vocos/pytorch_model.bin

Without the package or the files, ``load`` raises CapabilityError saying what to install.
Speech is generated one sentence at a time (each sentence one F5 inference), so chunks stream.
"""

from __future__ import annotations

import importlib.util
import tempfile
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from domain.sentences import split_sentences
from workers.engines.base import SAMPLE_RATE, Audio, AudioChunk, CapabilityError
from workers.engines.tts_piper import check_speed

CAPABILITY = "reference-voice cloning"
DEFAULT_ARCHITECTURE = "F5TTS_v1_Base"
F5_SAMPLE_RATE = 24_000
DEFAULT_VOICE = "default"
VOCODER_DIR = "vocos"
VOCODER_FILES = ("config.yaml", "pytorch_model.bin")
NFE_STEPS = 32
_EXAMPLE_REFERENCE = (
    "infer/examples/basic/basic_ref_en.wav",
    "some call me nature, others call me mother nature.",
)
"""The reference clip f5-tts ships, used as the ``default`` voice."""


def f5_installed() -> bool:
    return importlib.util.find_spec("f5_tts") is not None


@dataclass(frozen=True)
class F5Weights:
    checkpoint: Path
    vocab: Path
    vocoder: Path


def _weights_dir(path: Path) -> Path:
    """Where the checkpoint and vocabulary are: ``path`` itself, or the ``F5TTS_v1_Base/`` folder
    a download of the hub repository (the catalog's files) puts them in."""
    hub_layout = path / DEFAULT_ARCHITECTURE
    return hub_layout if not (path / "vocab.txt").is_file() and (hub_layout / "vocab.txt").is_file() else path


def find_weights(path: Path) -> tuple[F5Weights | None, list[str]]:
    """The weight files in ``path`` (or its ``F5TTS_v1_Base/``), or None and what is missing."""
    weights_dir = _weights_dir(path)
    checkpoints = (
        sorted(weights_dir.glob("*.safetensors")) + sorted(weights_dir.glob("*.pt"))
        if weights_dir.is_dir()
        else []
    )
    missing: list[str] = []
    if not checkpoints:
        missing.append("a checkpoint (model_*.safetensors or *.pt)")
    vocab = weights_dir / "vocab.txt"
    if not vocab.is_file():
        missing.append("vocab.txt")
    vocoder = path / VOCODER_DIR
    missing.extend(f"{VOCODER_DIR}/{name}" for name in VOCODER_FILES if not (vocoder / name).is_file())
    if missing:
        return None, missing
    return F5Weights(checkpoint=checkpoints[0], vocab=vocab, vocoder=vocoder), []


def write_wav(path: Path, samples: Audio, sample_rate: int) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def _quiet(*_args: Any, **_kwargs: Any) -> None:
    """f5-tts reports progress through a ``show_info`` callable; keep it out of the logs."""


class F5TtsEngine:
    """F5-TTS voice cloning (SpeechSynthesizer, with reference audio)."""

    def __init__(self, tts: Any, *, model_id: str) -> None:
        self._tts: Any | None = tts
        self.model_id = model_id
        self._lock = threading.Lock()
        self._sample_rate = int(getattr(tts, "target_sample_rate", F5_SAMPLE_RATE))

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        model_id: str,
        architecture: str = DEFAULT_ARCHITECTURE,
        device: str | None = None,
    ) -> F5TtsEngine:
        """Load the checkpoint, vocabulary and vocoder in ``path`` (see the module docstring)."""
        if not f5_installed():
            raise CapabilityError(
                model_id,
                CAPABILITY,
                f"the f5-tts package is not installed: install the f5 extra (pip install 'sauti[f5]') "
                f"and place its weights in {path}",
            )
        weights, missing = find_weights(path)
        if weights is None:
            raise CapabilityError(
                model_id,
                CAPABILITY,
                f"its weights are missing from {path} ({', '.join(missing)}): install the f5 extra "
                f"(pip install 'sauti[f5]') and place its weights in {path}",
            )
        from f5_tts.api import F5TTS

        tts = F5TTS(
            model=architecture,
            ckpt_file=str(weights.checkpoint),
            vocab_file=str(weights.vocab),
            vocoder_local_path=str(weights.vocoder),
            device=device,
        )
        return cls(tts, model_id=model_id)

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def voices(self) -> list[str]:
        return [DEFAULT_VOICE] if self._example_reference() is not None else []

    @staticmethod
    def _example_reference() -> Path | None:
        try:
            example = Path(str(files("f5_tts").joinpath(_EXAMPLE_REFERENCE[0])))
        except (ModuleNotFoundError, TypeError):
            return None
        return example if example.is_file() else None

    def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        speed: float = 1.0,
        language: str | None = None,
        reference_audio: Audio | None = None,
        reference_text: str | None = None,
        reference_sample_rate: int = SAMPLE_RATE,
    ) -> Iterator[AudioChunk]:
        """Speak ``text`` in the voice of ``reference_audio`` (mono float32), one chunk per sentence.

        ``reference_text`` is what the reference says (required: transcribing it would need a
        hub download). Without reference audio, ``voice`` "default" (or None) uses the clip
        f5-tts ships. ``language`` is not used: the checkpoint decides what it can speak.
        """
        tts = self._loaded()
        check_speed(speed)
        if reference_audio is not None:
            if not reference_text or not reference_text.strip():
                raise ValueError("reference_text (the transcript of reference_audio) is required")
            if reference_audio.size == 0:
                raise ValueError("reference_audio is empty")
            return self._stream(
                tts, split_sentences(text), speed, reference_text, reference_audio, reference_sample_rate
            )
        example = self._example_reference()
        if voice not in (None, DEFAULT_VOICE) or example is None:
            raise CapabilityError(
                self.model_id, f"voice {voice!r}", "it speaks in the voice of the reference_audio it is given"
            )
        return self._stream(tts, split_sentences(text), speed, _EXAMPLE_REFERENCE[1], example, 0)

    def _stream(
        self,
        tts: Any,
        sentences: list[str],
        speed: float,
        reference_text: str,
        reference: Audio | Path,
        reference_sample_rate: int,
    ) -> Iterator[AudioChunk]:
        with tempfile.TemporaryDirectory(prefix="sauti-f5-") as scratch:
            if isinstance(reference, Path):
                reference_file = reference
            else:
                reference_file = Path(scratch) / "reference.wav"
                write_wav(reference_file, reference, reference_sample_rate)
            for sentence in sentences:
                with self._lock:
                    wav, sample_rate, _spectrogram = tts.infer(
                        ref_file=str(reference_file),
                        ref_text=reference_text,
                        gen_text=sentence,
                        show_info=_quiet,
                        nfe_step=NFE_STEPS,
                        speed=speed,
                    )
                samples = np.asarray(wav, dtype=np.float32).reshape(-1)
                if samples.size:
                    yield AudioChunk(samples=samples, sample_rate=int(sample_rate), text=sentence)

    def _loaded(self) -> Any:
        if self._tts is None:
            raise RuntimeError(f"{self.model_id} is closed")
        return self._tts

    def close(self) -> None:
        self._tts = None
        try:
            import torch
        except ImportError:
            return
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
