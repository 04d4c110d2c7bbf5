"""Telemetry values: histograms that travel (JSON, worker heartbeats) and sum across processes,
and what a job's completed result says about its audio. Pure: no I/O.

A ``Histogram`` is the in-process accumulator (thread-safe, one bisect and a lock per observation);
its ``snapshot()`` is a ``HistogramSnapshot``: per-bucket counts (not cumulative), their sum and
the sum of the observed values. Snapshots of the same buckets add up (``merged``), which is how
the web process and every worker become one series.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

# Upper bounds, in seconds or as a ratio; +Inf is implied as the last bucket.
HTTP_SECONDS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
APPEND_SECONDS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
JOB_SECONDS: tuple[float, ...] = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
)
REAL_TIME_FACTOR: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)

INF = "+Inf"


def bucket_label(bound: float) -> str:
    """A bucket's upper bound as Prometheus writes it (``le``): ``0.5``, ``10.0``, ``+Inf``."""
    return INF if math.isinf(bound) else repr(float(bound))


def bucket_for(bounds: Sequence[float], value: float) -> str:
    """The label of the first bucket whose upper bound holds ``value``."""
    index = bisect.bisect_left(bounds, value)
    return bucket_label(bounds[index]) if index < len(bounds) else INF


class HistogramSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    bounds: tuple[float, ...]
    """Upper bounds, +Inf left out."""
    counts: tuple[int, ...]
    """Observations per bucket (not cumulative), one more than ``bounds``: the last is +Inf's."""
    sum: float = 0.0

    @classmethod
    def empty(cls, bounds: Sequence[float]) -> HistogramSnapshot:
        return cls(bounds=tuple(bounds), counts=(0,) * (len(bounds) + 1))

    @classmethod
    def from_labelled(
        cls, bounds: Sequence[float], counts: Mapping[str, int], total: float
    ) -> HistogramSnapshot:
        """From counts keyed by bucket label (as a table stores them); unknown labels go to +Inf."""
        labels = [bucket_label(b) for b in bounds]
        per_bucket = [counts.get(label, 0) for label in labels]
        per_bucket.append(sum(n for label, n in counts.items() if label not in labels))
        return cls(bounds=tuple(bounds), counts=tuple(per_bucket), sum=total)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, observations <= le)`` pairs, ending with ``+Inf``: the Prometheus buckets."""
        running, pairs = 0, []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            pairs.append((bucket_label(bound), running))
        return pairs

    def merged(self, other: HistogramSnapshot) -> HistogramSnapshot:
        if other.bounds != self.bounds:
            raise ValueError("cannot merge histograms with different buckets")
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return HistogramSnapshot(bounds=self.bounds, counts=counts, sum=self.sum + other.sum)

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "sum": round(self.sum, 6), "buckets": dict(self.cumulative())}


def merge_all(bounds: Sequence[float], snapshots: Iterable[HistogramSnapshot]) -> HistogramSnapshot:
    total = HistogramSnapshot.empty(bounds)
    for snapshot in snapshots:
        total = total.merged(snapshot)
    return total


class Histogram:
    """Observations of one series in this process."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self._counts = [0] * (len(self.bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.bounds, value)
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    def snapshot(self) -> HistogramSnapshot:
        with self._lock:
            return HistogramSnapshot(bounds=self.bounds, counts=tuple(self._counts), sum=self._sum)


# --- what a completed job's result says about its audio ---------------------------------------

# The result fields of the audio kinds (domain/transcription.py, domain/speech.py, the
# diarization result): the audio's length, and the engine's processing time.
_AUDIO_SECONDS = ("duration", "audio_duration_secs")
_PROCESSING_MS = ("processing_time_ms", "generation_time_ms")


def real_time_factor(result: Mapping[str, Any]) -> float | None:
    """Processing seconds over audio seconds, from a completed result that records both (the
    transcription, alignment, diarization and speech results); None for any other result."""
    audio = _first_number(result, _AUDIO_SECONDS)
    processing = _first_number(result, _PROCESSING_MS)
    if audio is None or processing is None or audio <= 0:
        return None
    return processing / 1000 / audio


def _first_number(result: Mapping[str, Any], keys: Sequence[str]) -> float | None:
    for key in keys:
        value = result.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None
