"""Speaker embeddings and diarization on real recordings: Resemblyzer + Silero VAD, and pyannote's error.

``stereo_diarization.wav`` has one speaker per channel, and they overlap: the right-hand speaker
talks from 0.3 s to 2.7 s while the left-hand one talks from 0.2 s to the end (5.0 s). The ground
truth comes from running the VAD on each channel separately. A single-label diarizer can only give
the overlap to one of them, so the mix is scored on the right channel's speech and on the part
where the left speaker talks alone; ``test_concatenated_speakers`` is the overlap-free case.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import JFK
from tests.two_speakers import STEREO
from workers.engines.audio import decode_audio
from workers.engines.base import SAMPLE_RATE, Audio, CapabilityError, SpeakerTurn
from workers.engines.diarization import (
    ClusteringDiarizer,
    PyannoteDiarizer,
    ResemblyzerEmbedder,
    turns_from_annotation,
    window_bounds,
)
from workers.engines.vad import SileroVad

Spans = list[tuple[float, float]]


# --- helpers -----------------------------------------------------------------------------------


def overlap(turns: Sequence[SpeakerTurn], spans: Spans, speaker: str | None = None) -> float:
    """Seconds of ``spans`` covered by ``turns`` (of one ``speaker``, or of any)."""
    return sum(
        max(0.0, min(end, turn.end) - max(start, turn.start))
        for start, end in spans
        for turn in turns
        if speaker is None or turn.speaker == speaker
    )


def duration(spans: Spans) -> float:
    return sum(end - start for start, end in spans)


def majority(turns: Sequence[SpeakerTurn], spans: Spans) -> tuple[str, float]:
    """The speaker label covering most of ``spans``, and the fraction of ``spans`` it covers."""
    labels = sorted({turn.speaker for turn in turns})
    best = max(labels, key=lambda label: overlap(turns, spans, label))
    return best, overlap(turns, spans, best) / duration(spans)


def subtract(spans: Spans, removed: Spans) -> Spans:
    result: Spans = []
    for start, end in spans:
        pieces = [(start, end)]
        for cut_start, cut_end in removed:
            pieces = [
                piece
                for piece_start, piece_end in pieces
                for piece in (
                    (piece_start, min(piece_end, cut_start)),
                    (max(piece_start, cut_end), piece_end),
                )
                if piece[1] - piece[0] > 1e-6
            ]
        result.extend(pieces)
    return result


def assert_well_formed(turns: Sequence[SpeakerTurn], audio: Audio) -> None:
    """Sorted, non-overlapping, inside the audio, labelled SPEAKER_00… by first appearance."""
    assert turns
    length = len(audio) / SAMPLE_RATE
    for turn in turns:
        assert 0.0 <= turn.start < turn.end <= length + 1e-6
    for previous, turn in itertools.pairwise(turns):
        assert previous.end <= turn.start + 1e-9
    first_seen = list(dict.fromkeys(turn.speaker for turn in turns))
    assert first_seen == [f"SPEAKER_{index:02d}" for index in range(len(first_seen))]


def cosine(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def silence(seconds: float) -> Audio:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedder() -> Iterator[ResemblyzerEmbedder]:
    engine = ResemblyzerEmbedder.load()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def vad() -> Iterator[SileroVad]:
    engine = SileroVad.load()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def diarizer(vad: SileroVad, embedder: ResemblyzerEmbedder) -> ClusteringDiarizer:
    return ClusteringDiarizer(vad, embedder)


@pytest.fixture(scope="module")
def left() -> Audio:
    return decode_audio(STEREO, channel=0)


@pytest.fixture(scope="module")
def right() -> Audio:
    return decode_audio(STEREO, channel=1)


@pytest.fixture(scope="module")
def mix() -> Audio:
    return decode_audio(STEREO)


@pytest.fixture(scope="module")
def jfk() -> Audio:
    return decode_audio(JFK)


@dataclass(frozen=True)
class Truth:
    left: Spans
    right: Spans


@pytest.fixture(scope="module")
def truth(vad: SileroVad, left: Audio, right: Audio) -> Truth:
    """Where each speaker talks: the VAD run on each channel on its own."""
    spans = Truth(
        left=[(span.start, span.end) for span in vad.detect(left)],
        right=[(span.start, span.end) for span in vad.detect(right)],
    )
    assert duration(spans.left) > 3.0
    assert duration(spans.right) > 1.5
    return spans


@pytest.fixture(scope="module")
def progress_events() -> list[tuple[str, float]]:
    return []


@pytest.fixture(scope="module")
def mix_turns(
    diarizer: ClusteringDiarizer, mix: Audio, progress_events: list[tuple[str, float]]
) -> list[SpeakerTurn]:
    return diarizer.diarize(mix, progress=lambda stage, fraction: progress_events.append((stage, fraction)))


@pytest.fixture(scope="module")
def jfk_turns(diarizer: ClusteringDiarizer, jfk: Audio) -> list[SpeakerTurn]:
    return diarizer.diarize(jfk)


# --- embedder ----------------------------------------------------------------------------------


def test_bundled_weights_are_in_the_package() -> None:
    weights = ResemblyzerEmbedder.bundled_weights()
    assert weights.name == "pretrained.pt"
    assert weights.is_file()


def test_embeddings_are_unit_float32_vectors(embedder: ResemblyzerEmbedder, jfk: Audio) -> None:
    vector = embedder.embed(jfk[: 3 * SAMPLE_RATE])
    assert vector.dtype == np.float32
    assert vector.shape == (ResemblyzerEmbedder.dimensions,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_same_speaker_is_closer_than_another_speaker(
    embedder: ResemblyzerEmbedder, left: Audio, right: Audio, jfk: Audio, truth: Truth
) -> None:
    half = len(left) // 2
    left_a, left_b = embedder.embed(left[:half]), embedder.embed(left[half:])
    start, end = (round(t * SAMPLE_RATE) for t in truth.right[0])
    other = embedder.embed(right[start:end])
    jfk_a, jfk_b = embedder.embed(jfk[: len(jfk) // 2]), embedder.embed(jfk[len(jfk) // 2 :])

    same_left = cosine(left_a, left_b)
    same_jfk = cosine(jfk_a, jfk_b)
    assert same_left > 0.75
    assert same_jfk > 0.75
    different = [cosine(left_a, other), cosine(left_b, other), cosine(jfk_a, left_a), cosine(jfk_a, other)]
    assert max(different) < min(same_left, same_jfk) - 0.1


def test_embed_windows_cover_the_clip(embedder: ResemblyzerEmbedder, jfk: Audio) -> None:
    clip = jfk[: round(4.2 * SAMPLE_RATE)]
    times, embeddings = embedder.embed_windows(clip, window_s=1.5, hop_s=0.75)
    assert times.shape == (len(embeddings), 2)
    assert embeddings.shape == (5, ResemblyzerEmbedder.dimensions)
    assert times[0, 0] == 0.0
    assert times[-1, 1] == pytest.approx(4.2)
    np.testing.assert_allclose(times[:, 1] - times[:, 0], 1.5)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)

    short_times, short = embedder.embed_windows(clip[: SAMPLE_RATE // 2])
    assert short.shape == (1, ResemblyzerEmbedder.dimensions)
    np.testing.assert_allclose(short_times, [[0.0, 0.5]])


def test_window_bounds() -> None:
    assert window_bounds(0, 10, 5) == []
    assert window_bounds(7, 10, 5) == [(0, 7)]
    assert window_bounds(20, 10, 5) == [(0, 10), (5, 15), (10, 20)]
    assert window_bounds(22, 10, 5) == [(0, 10), (5, 15), (10, 20), (12, 22)]


def test_embedder_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ResemblyzerEmbedder.load(tmp_path / "missing.pt")
    garbage = tmp_path / "pretrained.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a Resemblyzer checkpoint"):
        ResemblyzerEmbedder.load(tmp_path)  # a directory holding pretrained.pt


def test_closed_embedder_refuses_work(jfk: Audio) -> None:
    engine = ResemblyzerEmbedder.load(ResemblyzerEmbedder.bundled_weights())
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.embed(jfk[:SAMPLE_RATE])


# --- clustering diarizer -----------------------------------------------------------------------


def test_stereo_mix_has_two_speakers(mix_turns: list[SpeakerTurn], mix: Audio, truth: Truth) -> None:
    assert_well_formed(mix_turns, mix)
    assert {turn.speaker for turn in mix_turns} == {"SPEAKER_00", "SPEAKER_01"}

    right_label, right_share = majority(mix_turns, truth.right)
    left_alone = subtract(truth.left, truth.right)
    assert duration(left_alone) > 1.5
    left_label, left_share = majority(mix_turns, left_alone)
    assert right_label != left_label
    assert right_share >= 0.75, f"right channel's speech: {right_share:.0%} to {right_label}"
    assert left_share >= 0.8, f"left speaker alone: {left_share:.0%} to {left_label}"

    # Every labelled instant is one where the speaker the label stands for is talking.
    labelled = sum(turn.end - turn.start for turn in mix_turns)
    correct = overlap([t for t in mix_turns if t.speaker == right_label], truth.right) + overlap(
        [t for t in mix_turns if t.speaker == left_label], truth.left
    )
    assert correct / labelled >= 0.9
    # and the speech is labelled: little of either channel's speech is left out.
    assert overlap(mix_turns, truth.left) / duration(truth.left) >= 0.9


def test_progress_goes_through_the_stages(
    mix_turns: list[SpeakerTurn], progress_events: list[tuple[str, float]]
) -> None:
    stages = list(dict.fromkeys(stage for stage, _ in progress_events))
    assert stages[:3] == ["vad", "embedding", "clustering"]
    for stage in stages:
        fractions = [fraction for name, fraction in progress_events if name == stage]
        assert fractions == sorted(fractions)
        assert fractions[0] >= 0.0
        assert fractions[-1] == 1.0


def test_one_speaker(jfk_turns: list[SpeakerTurn], jfk: Audio, vad: SileroVad) -> None:
    assert_well_formed(jfk_turns, jfk)
    assert {turn.speaker for turn in jfk_turns} == {"SPEAKER_00"}
    speech = [(span.start, span.end) for span in vad.detect(jfk)]
    assert overlap(jfk_turns, speech) / duration(speech) >= 0.95


def test_min_speakers_is_honoured(diarizer: ClusteringDiarizer, jfk: Audio) -> None:
    turns = diarizer.diarize(jfk, min_speakers=2)
    assert_well_formed(turns, jfk)
    assert {turn.speaker for turn in turns} == {"SPEAKER_00", "SPEAKER_01"}


def test_max_speakers_is_honoured(diarizer: ClusteringDiarizer, mix: Audio, truth: Truth) -> None:
    turns = diarizer.diarize(mix, max_speakers=1)
    assert_well_formed(turns, mix)
    assert {turn.speaker for turn in turns} == {"SPEAKER_00"}
    assert overlap(turns, truth.left) / duration(truth.left) >= 0.9


def test_concatenated_speakers(diarizer: ClusteringDiarizer, left: Audio, right: Audio, truth: Truth) -> None:
    """No overlap: the left speaker, the right speaker, then the left speaker again."""
    right_start, right_end = (round(t * SAMPLE_RATE) for t in truth.right[0])
    pieces = [left, silence(0.5), right[right_start:right_end], silence(0.5), left]
    audio = np.concatenate(pieces)
    bounds = np.cumsum([0, *(len(piece) for piece in pieces)]) / SAMPLE_RATE
    first, second, third = ([(float(bounds[index]), float(bounds[index + 1]))] for index in (0, 2, 4))

    turns = diarizer.diarize(audio)
    assert_well_formed(turns, audio)
    assert {turn.speaker for turn in turns} == {"SPEAKER_00", "SPEAKER_01"}
    for spans, expected in ((first, "SPEAKER_00"), (second, "SPEAKER_01"), (third, "SPEAKER_00")):
        label, share = majority(turns, spans)
        assert label == expected
        assert share >= 0.9


def test_silence_has_no_turns(diarizer: ClusteringDiarizer) -> None:
    assert diarizer.diarize(silence(2.0)) == []
    assert diarizer.diarize(silence(0.0)) == []


def test_speaker_bounds_are_validated(diarizer: ClusteringDiarizer, jfk: Audio) -> None:
    with pytest.raises(ValueError):
        diarizer.diarize(jfk, min_speakers=3, max_speakers=2)
    with pytest.raises(ValueError):
        diarizer.diarize(jfk, max_speakers=0)


class _Spans:
    """A VAD that reports fixed spans."""

    def __init__(self, spans: Sequence[tuple[float, float]]) -> None:
        from workers.engines.base import SpeechSpan

        self.spans = [SpeechSpan(start, end) for start, end in spans]

    def detect(self, audio: Audio, **options: Any) -> list[Any]:
        return list(self.spans)

    def close(self) -> None:
        pass


class _SignEmbedder:
    """Embeds a clip by the sign of most of its samples: one stand-in speaker per sign (``embed`` only)."""

    def embed(self, audio: Audio) -> np.ndarray[Any, np.dtype[np.float32]]:
        vector = np.array([1.0, 0.0, 0.1] if np.mean(audio > 0) > 0.5 else [0.0, 1.0, 0.1], dtype=np.float32)
        return vector / np.linalg.norm(vector)

    def close(self) -> None:
        pass


def test_clustering_with_a_plain_embedder() -> None:
    """Window by window through ``embed`` when the embedder has no ``embed_windows``."""
    audio = np.concatenate([np.full(6 * SAMPLE_RATE, 0.1), np.full(4 * SAMPLE_RATE, -0.1)]).astype(np.float32)
    audio = np.concatenate([audio, silence(1.0), np.full(3 * SAMPLE_RATE, 0.1, dtype=np.float32)])
    diarizer = ClusteringDiarizer(_Spans([(0.0, 10.0), (11.0, 14.0)]), _SignEmbedder())
    turns = diarizer.diarize(audio)
    assert [turn.speaker for turn in turns] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00"]
    assert turns[0].start == 0.0
    assert turns[0].end == pytest.approx(6.0, abs=0.3)
    assert turns[1].end == 10.0
    assert (turns[2].start, turns[2].end) == (11.0, 14.0)
    assert diarizer.diarize(audio, max_speakers=1) == [
        SpeakerTurn("SPEAKER_00", 0.0, 10.0),
        SpeakerTurn("SPEAKER_00", 11.0, 14.0),
    ]


# --- pyannote ----------------------------------------------------------------------------------


def test_pyannote_without_the_extra_or_weights_is_a_capability_error(tmp_path: Path) -> None:
    with pytest.raises(CapabilityError) as raised:
        PyannoteDiarizer.load(tmp_path, model_id="Pyannote-Speaker-Diarization-3.1")
    message = str(raised.value)
    assert raised.value.capability == "diarization"
    assert "Pyannote-Speaker-Diarization-3.1" in message
    assert "pip install 'sauti[pyannote]'" in message
    assert str(tmp_path) in message


@dataclass(frozen=True)
class _Segment:
    start: float
    end: float


class _Annotation:
    def __init__(self, tracks: Sequence[tuple[float, float, str]]) -> None:
        self.tracks = tracks

    def itertracks(self, yield_label: bool = False) -> Iterator[tuple[_Segment, str, str]]:
        for index, (start, end, label) in enumerate(self.tracks):
            yield _Segment(start, end), f"track{index}", label


def test_pyannote_annotation_becomes_exclusive_labelled_turns() -> None:
    annotation = _Annotation(
        [(4.0, 6.0, "SPEAKER_07"), (0.5, 3.0, "SPEAKER_03"), (2.5, 4.5, "SPEAKER_07"), (5.0, 5.0, "x")]
    )
    assert turns_from_annotation(annotation) == [
        SpeakerTurn("SPEAKER_00", 0.5, 3.0),
        SpeakerTurn("SPEAKER_01", 3.0, 6.0),
    ]
