"""Cutting a long recording into windows at silences, with a fake VAD over samples on disk."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from workers.audio_windows import DecodedAudio, Windowing, silence_cut, speech_spans, windows
from workers.engines.base import SAMPLE_RATE, Audio, SpeechSpan


def spans(*pairs: tuple[float, float]) -> list[SpeechSpan]:
    return [SpeechSpan(start, end) for start, end in pairs]


def test_the_cut_is_in_the_longest_pause() -> None:
    assert silence_cut(spans((0.0, 2.0), (2.5, 6.0), (7.0, 9.5)), 10.0) == pytest.approx(6.5)
    assert silence_cut(spans((1.0, 9.0)), 10.0) == pytest.approx(9.5)  # the later of two alike
    assert silence_cut(spans((0.0, 10.0)), 10.0) is None
    assert silence_cut([], 10.0) == pytest.approx(5.0)
    assert silence_cut(spans((3.0, 4.0), (2.0, 6.0)), 6.0) == pytest.approx(1.0)  # overlapping spans


class SpeechEverywhereBut:
    """A VAD that hears speech everywhere except in the given pauses (seconds of the recording)."""

    def __init__(self, pauses: Sequence[tuple[float, float]]) -> None:
        self.pauses = pauses

    def detect(self, audio: Audio, **options: object) -> list[SpeechSpan]:
        # The fake recording's samples are their own times: read them back.
        start = round(float(audio[0]) * SAMPLE_RATE) / SAMPLE_RATE
        end = start + audio.size / SAMPLE_RATE
        found, cursor = [], start
        for pause_start, pause_end in self.pauses:
            if pause_end <= start or pause_start >= end:
                continue
            if pause_start > cursor:
                found.append(SpeechSpan(cursor - start, pause_start - start))
            cursor = pause_end
        if cursor < end:
            found.append(SpeechSpan(cursor - start, end - start))
        return found

    def close(self) -> None:
        pass


@pytest.fixture
def recording() -> Iterator[DecodedAudio]:
    """100 s whose samples are their own times in seconds."""
    samples = (np.arange(100 * SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32)
    with tempfile.TemporaryFile() as file:
        file.write(samples.tobytes())
        yield DecodedAudio(file, samples.size)


def test_windows_end_at_pauses_and_cover_everything(recording: DecodedAudio) -> None:
    vad = SpeechEverywhereBut([(17.0, 18.0), (38.0, 38.4), (55.0, 56.0), (90.0, 91.0)])
    cuts = list(windows(recording, windowing=Windowing(window_s=25.0, search_s=10.0), vad=lambda: vad))
    seconds = [(round(first / SAMPLE_RATE, 2), round(last / SAMPLE_RATE, 2)) for first, last in cuts]
    assert seconds == [(0.0, 17.5), (17.5, 38.2), (38.2, 55.5), (55.5, 80.5), (80.5, 100.0)]
    # No pause in the last 10 s of the fourth window: it is cut at its full length.
    assert all(b - a <= 25.0 for a, b in seconds)


def test_a_short_recording_is_one_window_without_the_vad(recording: DecodedAudio) -> None:
    def no_vad() -> SpeechEverywhereBut:
        raise AssertionError("the VAD was loaded")

    assert list(windows(recording, windowing=Windowing(window_s=120.0), vad=no_vad)) == [
        (0, 100 * SAMPLE_RATE)
    ]
    assert list(windows(recording, 60 * SAMPLE_RATE, windowing=Windowing(window_s=60.0), vad=no_vad)) == [
        (60 * SAMPLE_RATE, 100 * SAMPLE_RATE)
    ]


def test_reading_back_pieces(recording: DecodedAudio) -> None:
    piece = recording.read(SAMPLE_RATE, 2 * SAMPLE_RATE)
    assert piece.dtype == np.float32 and piece.size == SAMPLE_RATE
    assert piece[0] == pytest.approx(1.0) and piece[-1] == pytest.approx(2.0, abs=1e-3)
    assert recording.read(99 * SAMPLE_RATE, 200 * SAMPLE_RATE).size == SAMPLE_RATE
    assert recording.read(5, 5).size == 0 and recording.duration == 100.0


def test_speech_is_found_window_by_window_and_merged(recording: DecodedAudio) -> None:
    vad = SpeechEverywhereBut([(17.0, 18.0), (55.0, 56.0)])
    checks: list[None] = []
    found = speech_spans(
        recording,
        windowing=Windowing(window_s=40.0, search_s=10.0),
        vad=lambda: vad,
        checkpoint=lambda: checks.append(None),
    )
    assert [(round(s.start, 2), round(s.end, 2)) for s in found] == [(0.0, 17.0), (18.0, 55.0), (56.0, 100.0)]
    assert len(checks) >= 3
