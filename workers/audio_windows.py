"""Long recordings in bounded memory: a stored audio decoded once (streamed through FFmpeg) into a
temporary file of 16 kHz mono float32 samples, then read back a window at a time.

Windows are at most ``Windowing.window_s`` long (2 minutes) and end at a silence the VAD finds near their
end, so that no word is cut in two. A recording shorter than one window is a single window, and
the VAD is then never loaded.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from workers import runtime
from workers.engines.audio import AudioDecodeError, iter_decoded
from workers.engines.base import SAMPLE_RATE, Audio, SpeechSpan, VoiceActivityDetector
from workers.engines.diarization import merge_speech_spans
from workflows.jobs import JobInputError

VAD_MODEL = "Silero-VAD"
DECODE_CHUNK_SECONDS = 30.0


@dataclass(frozen=True)
class Windowing:
    window_s: float = 120.0
    """The longest window. It bounds a step's memory: Whisper's features of a 2-minute window take
    about 150 MB at their peak (measured with Whisper-Tiny), 5 minutes twice that."""
    search_s: float = 20.0
    """A window ends at the longest silence in its last ``search_s`` seconds."""


WINDOWING = Windowing()


class DecodedAudio:
    """Samples on disk, read a piece at a time (``read`` is a ``SampleReader``)."""

    def __init__(self, file: BinaryIO, samples: int) -> None:
        self._file = file
        self.samples = samples

    @classmethod
    @contextlib.contextmanager
    def decode(cls, source: Path) -> Iterator[DecodedAudio]:
        """Decode ``source``; the temporary file is gone when the context ends."""
        with tempfile.TemporaryFile(prefix="sauti-decoded-") as file:
            samples = 0
            for chunk in iter_decoded(source, SAMPLE_RATE, DECODE_CHUNK_SECONDS):
                file.write(chunk.astype("<f4", copy=False).tobytes())
                samples += chunk.size
            file.flush()
            yield cls(file, samples)

    @property
    def duration(self) -> float:
        return self.samples / SAMPLE_RATE

    def read(self, first: int, last: int) -> Audio:
        first, last = max(0, first), min(self.samples, last)
        if last <= first:
            return np.zeros(0, dtype=np.float32)
        self._file.seek(first * 4)
        return np.fromfile(self._file, dtype="<f4", count=last - first).astype(np.float32, copy=False)


def stored_audio_path(digest: str) -> Path:
    """Where the job's stored audio is; missing audio is the client's fault (deleted meanwhile)."""
    try:
        path = runtime.media().path(digest)
    except ValueError as error:
        raise JobInputError(f"The uploaded audio is no longer stored: {error}", param="file") from error
    if not path.is_file():
        raise JobInputError(f"The uploaded audio is no longer stored: no media object {digest}", param="file")
    return path


@contextlib.contextmanager
def stored_audio_file(digest: str) -> Iterator[DecodedAudio]:
    """The job's stored audio, decoded; undecodable audio is the client's fault."""
    path = stored_audio_path(digest)
    with contextlib.ExitStack() as stack:
        try:
            audio = stack.enter_context(DecodedAudio.decode(path))
        except AudioDecodeError as error:
            raise JobInputError(str(error), param="file") from error
        yield audio


def vad_engine() -> VoiceActivityDetector:
    rt = runtime.current()
    variant = rt.catalog.find(VAD_MODEL)
    if variant is None:
        raise RuntimeError(f"the catalog has no {VAD_MODEL}")
    engine: VoiceActivityDetector = runtime.engines().get(variant)
    return engine


def silence_cut(spans: Sequence[SpeechSpan], length: float) -> float | None:
    """The middle of the longest pause in ``[0, length]`` around ``spans`` (the later one of two
    alike), or None when speech fills it all."""
    best_gap, best_cut = 0.0, None
    cursor = 0.0
    for span in [*sorted(spans, key=lambda span: span.start), SpeechSpan(length, length)]:
        start = min(span.start, length)
        if start - cursor > 0 and start - cursor >= best_gap:
            best_gap, best_cut = start - cursor, (cursor + start) / 2
        cursor = max(cursor, span.end)
    return best_cut


def windows(
    audio: DecodedAudio,
    first: int = 0,
    end: int | None = None,
    *,
    windowing: Windowing | None = None,
    vad: Callable[[], VoiceActivityDetector] = vad_engine,
) -> Iterator[tuple[int, int]]:
    """Sample ranges ``[first, last)`` that cover the audio from ``first`` to ``end`` (its end
    by default; ``windowing``: ``WINDOWING`` as it is when called)."""
    windowing = windowing or WINDOWING
    end = audio.samples if end is None else min(end, audio.samples)
    size = round(windowing.window_s * SAMPLE_RATE)
    search = min(size, round(windowing.search_s * SAMPLE_RATE))
    while end - first > size:
        region_first = first + size - search
        region = audio.read(region_first, first + size)
        cut = silence_cut(vad().detect(region), region.size / SAMPLE_RATE)
        last = first + size if cut is None else region_first + max(1, round(cut * SAMPLE_RATE))
        yield first, last
        first = last
    if end > first:
        yield first, end


def speech_spans(
    audio: DecodedAudio,
    *,
    windowing: Windowing | None = None,
    vad: Callable[[], VoiceActivityDetector] = vad_engine,
    checkpoint: Callable[[], None] = lambda: None,
) -> list[SpeechSpan]:
    """Where the whole recording has speech, found a window at a time (merged, as the diarizer
    wants them); ``checkpoint`` runs between windows."""
    found: list[SpeechSpan] = []
    for first, last in windows(audio, windowing=windowing, vad=vad):
        checkpoint()
        # Counted in samples, so that spans touching at a cut meet exactly and are merged.
        found.extend(
            SpeechSpan(_at(first, span.start), _at(first, span.end))
            for span in vad().detect(audio.read(first, last))
        )
    return merge_speech_spans(found, audio.duration)


def _at(first: int, offset: float) -> float:
    return (first + round(offset * SAMPLE_RATE)) / SAMPLE_RATE


def seconds(value: float) -> float:
    """A time as events record it: to the millisecond."""
    return round(value, 3)
