"""Clustering speaker embeddings: the count from the tree's threshold, bounds honoured exactly,
and a long recording's count bounded by clustering a sample of its windows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from workers.engines.speaker_clustering import cluster_embeddings


def voices(counts: list[int], *, dimensions: int = 64, spread: float = 0.35, seed: int = 0) -> np.ndarray:
    """Unit embeddings around one random direction per voice, ``counts[i]`` windows of voice ``i``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(counts), dimensions))
    rows = np.concatenate(
        [
            centre + spread * rng.normal(size=(count, dimensions))
            for centre, count in zip(centres, counts, strict=False)
        ]
    )
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def clusters(labels: np.ndarray) -> int:
    return len(np.unique(labels))


def test_the_number_of_voices_is_found() -> None:
    for counts in ([60, 40], [50, 30, 40], [30, 30, 30, 30]):
        labels = cluster_embeddings(voices(counts))
        assert clusters(labels) == len(counts)
        # every voice's windows share one label
        edges = np.cumsum([0, *counts])
        for first, last in itertools.pairwise(edges):
            assert clusters(labels[first:last]) == 1


def test_one_voice_is_one_speaker() -> None:
    assert clusters(cluster_embeddings(voices([80]))) == 1


def test_a_stray_window_is_not_a_speaker() -> None:
    embeddings = np.concatenate([voices([60, 50], seed=1), voices([1], seed=9)])
    labels = cluster_embeddings(embeddings)
    assert clusters(labels) == 2


def test_bounds_are_honoured_exactly() -> None:
    embeddings = voices([40, 40, 40])
    assert clusters(cluster_embeddings(embeddings, max_speakers=2)) == 2
    assert clusters(cluster_embeddings(embeddings, min_speakers=4, max_speakers=4)) == 4
    assert clusters(cluster_embeddings(voices([80]), min_speakers=2)) == 2
    assert (
        clusters(cluster_embeddings(voices([5]), min_speakers=2)) == 2
    )  # fewer windows than a cluster needs


def test_a_long_recording_clusters_a_bounded_sample() -> None:
    embeddings = voices([3000, 2500, 2000], spread=0.4, seed=3)
    labels = cluster_embeddings(embeddings, max_windows=600)
    assert labels.shape == (7500,)
    assert clusters(labels) == 3


def test_labels_are_numbered_by_first_appearance() -> None:
    labels = cluster_embeddings(voices([30, 30, 30], seed=5)[::-1].copy())
    assert labels[0] == 0
    assert list(dict.fromkeys(labels.tolist())) == [0, 1, 2]


@pytest.mark.parametrize("count", [0, 1, 3])
def test_tiny_inputs(count: int) -> None:
    labels = cluster_embeddings(voices([count]) if count else np.zeros((0, 8), dtype=np.float32))
    assert labels.shape == (count,)
    assert set(labels.tolist()) <= {0}
