"""Speaker embeddings and diarization: Resemblyzer d-vectors clustered per recording, or pyannote.audio.

``ClusteringDiarizer`` composes two ports: a ``VoiceActivityDetector`` finds speech, a
``SpeakerEmbedder`` embeds overlapping windows inside it, and the windows are clustered
(agglomerative, cosine distance, average linkage). The number of speakers is the largest count
whose clusters are all distinct (no two centroids more similar than ``similarity_threshold``, each
with at least ``min_speaker_s`` of speech), within ``[min_speakers, max_speakers]``. With more
than one speaker, shorter windows are then given to the nearest centroid (resegmentation), each
instant of speech goes to the window whose centre is nearest, a speaker's consecutive pieces are
merged and very short turns absorbed. One speaker is assumed per instant: where two people talk
at once, the overlap goes to one of them.

The defaults were tuned on few recordings (the fixtures, and concatenations of their speakers):
Resemblyzer's d-vectors of one noisy speaker reach 0.80 centroid similarity, two overlapping
speakers 0.75, so ``similarity_threshold`` (0.78) is a narrow margin, not a universal constant.

``PyannoteDiarizer`` runs a local pyannote.audio pipeline when the optional extra is installed.
"""

from __future__ import annotations

import contextlib
import gc
import math
import pickle
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from workers.engines.base import (
    SAMPLE_RATE,
    Audio,
    CapabilityError,
    FloatArray,
    SpeakerEmbedder,
    SpeakerTurn,
    SpeechSpan,
    VoiceActivityDetector,
)

Progress = Callable[[str, float], None]
"""Receives a stage name ("vad", "embedding", "clustering", "resegmentation") and its fraction done."""
SampleReader = Callable[[int, int], Audio]
"""Samples ``[first, last)`` of a recording (a slice of an array, or a read from a file)."""


WEIGHTS_FILE = "pretrained.pt"
TARGET_DBFS = -30.0
"""Resemblyzer's training loudness; every window is brought to it before the mel spectrogram."""
SILENCE_RMS = 1e-5
BATCH_WINDOWS = 64
MEL_HOP = SAMPLE_RATE // 100
"""Samples per mel frame (Resemblyzer's 10 ms step)."""


def speaker_label(index: int) -> str:
    return f"SPEAKER_{index:02d}"


def check_speaker_bounds(min_speakers: int | None, max_speakers: int | None) -> None:
    """Raises ValueError for bounds no diarization can honour."""
    if min_speakers is not None and min_speakers < 1:
        raise ValueError("min_speakers must be at least 1")
    if max_speakers is not None and max_speakers < 1:
        raise ValueError("max_speakers must be at least 1")
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise ValueError("min_speakers cannot exceed max_speakers")


def merge_speech_spans(spans: Sequence[SpeechSpan], duration: float) -> list[SpeechSpan]:
    """Speech spans clipped to ``[0, duration]``, sorted, and merged where they touch or overlap."""
    merged: list[SpeechSpan] = []
    for span in sorted(spans, key=lambda span: span.start):
        start, end = max(0.0, span.start), min(duration, span.end)
        if merged and start <= merged[-1].end:
            merged[-1] = SpeechSpan(merged[-1].start, max(merged[-1].end, end))
        elif end > start:
            merged.append(SpeechSpan(start, end))
    return merged


def window_bounds(n_samples: int, window: int, hop: int) -> list[tuple[int, int]]:
    """Sample ranges of windows of ``window`` samples every ``hop`` samples, covering all of them.

    The last window is aligned to the end when the grid leaves a tail uncovered; a clip shorter
    than one window is a single (shorter) window.
    """
    if n_samples <= 0:
        return []
    if n_samples <= window:
        return [(0, n_samples)]
    starts = list(range(0, n_samples - window + 1, max(1, hop)))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return [(start, start + window) for start in starts]


def _gain(samples: Audio, target_dbfs: float = TARGET_DBFS) -> float:
    """The factor that brings ``samples`` to ``target_dbfs`` RMS (1 for silence)."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    return 1.0 if rms < SILENCE_RMS else 10 ** (target_dbfs / 20) / rms


def _unit(vector: npt.NDArray[Any]) -> FloatArray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def _import_resemblyzer() -> Any:
    # resemblyzer.audio imports scipy.ndimage.morphology, deprecated since SciPy 1.8.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import resemblyzer

    return resemblyzer


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run torch's CPU ops on ``threads`` intra-op threads for a while (None: leave them as they are).

    The setting is torch's, for the process: a concurrent torch user may run with it meanwhile.
    """
    import torch

    previous = torch.get_num_threads()
    if threads is None or threads == previous:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class ResemblyzerEmbedder:
    """Resemblyzer's GE2E speaker encoder (SpeakerEmbedder): 256-dimensional unit vectors, on the CPU.

    The encoder is a 3-layer LSTM: hundreds of small sequential steps, each a synchronisation point
    for torch's thread pool. On a busy CPU one thread is much faster than several (measured on 2
    cores with another process running: 0.2 s against 0.5 to 8 s for jfk.flac's windows), so
    forward passes run on ``threads`` (1) intra-op threads.
    """

    dimensions = 256

    def __init__(self, encoder: Any, resemblyzer: Any, *, model_id: str, threads: int | None = 1) -> None:
        self._encoder: Any = encoder
        self._resemblyzer: Any = resemblyzer
        self.model_id = model_id
        self.threads = threads

    @staticmethod
    def bundled_weights() -> Path:
        """The ``pretrained.pt`` shipped inside the resemblyzer package."""
        import importlib.util

        spec = importlib.util.find_spec("resemblyzer")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the resemblyzer package is not installed")
        return Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        *,
        model_id: str = "Resemblyzer",
        device: str = "cpu",
        threads: int | None = 1,
    ) -> ResemblyzerEmbedder:
        """Load ``pretrained.pt`` (the file, or a directory holding it; None: the bundled one)."""
        weights = cls.bundled_weights() if path is None else Path(path)
        if weights.is_dir():
            weights = weights / WEIGHTS_FILE
        if not weights.is_file():
            raise FileNotFoundError(f"{model_id}: speaker encoder weights not found at {weights}")
        import torch

        resemblyzer = _import_resemblyzer()
        try:
            checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
            encoder = resemblyzer.VoiceEncoder(device=device, verbose=False, weights_fpath=weights)
            # VoiceEncoder loads non-strictly (the checkpoint also holds the GE2E loss's scale and
            # bias): a file lacking the network's weights would silently leave random ones in place.
            missing = encoder.load_state_dict(checkpoint["model_state"], strict=False).missing_keys
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
        except (
            RuntimeError,
            KeyError,
            TypeError,
            ValueError,
            OSError,
            EOFError,
            pickle.UnpicklingError,
        ) as error:
            raise ValueError(f"{model_id}: {weights} is not a Resemblyzer checkpoint ({error})") from error
        encoder.eval()
        return cls(encoder, resemblyzer, model_id=model_id, threads=threads)

    def embed(self, audio: Audio) -> FloatArray:
        """One embedding for a clip: Resemblyzer's utterance embedding (mean of 1.6 s partials)."""
        encoder = self._loaded()
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        if samples.size == 0:
            raise ValueError("cannot embed an empty clip")
        audio_module = self._resemblyzer.audio
        samples = np.clip(samples * _gain(samples), -1.0, 1.0).astype(np.float32)
        trimmed = audio_module.trim_long_silences(samples)
        if trimmed.size >= SAMPLE_RATE // 4:
            samples = trimmed
        with _torch_threads(self.threads):
            embedding = encoder.embed_utterance(samples.astype(np.float32))
        return _unit(np.asarray(embedding, dtype=np.float32))

    def embed_windows(
        self, audio: Audio, window_s: float = 1.5, hop_s: float = 0.75
    ) -> tuple[npt.NDArray[np.float64], FloatArray]:
        """Embeddings of overlapping windows: ``(times, embeddings)``.

        ``times`` has one ``[start, end]`` row per window, in seconds from the start of ``audio``;
        ``embeddings`` one unit row per window. Each window is brought to the same loudness first.
        """
        if window_s <= 0 or hop_s <= 0:
            raise ValueError("window_s and hop_s must be positive")
        encoder = self._loaded()
        import torch

        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        # The mel spectrogram is computed once and sliced: windows start on its 10 ms frames.
        frames = window_bounds(
            max(1, samples.size // MEL_HOP) if samples.size else 0,
            max(1, round(window_s * SAMPLE_RATE / MEL_HOP)),
            max(1, round(hop_s * SAMPLE_RATE / MEL_HOP)),
        )
        bounds = [(first * MEL_HOP, min(samples.size, last * MEL_HOP)) for first, last in frames]
        times = np.array(bounds, dtype=np.float64).reshape(-1, 2) / SAMPLE_RATE
        embeddings = np.zeros((len(bounds), self.dimensions), dtype=np.float32)
        if not bounds:
            return times, embeddings
        mel = self._resemblyzer.audio.wav_to_mel_spectrogram(samples)
        # Windows of one length run as a batch; a clip shorter than a window is a batch of one.
        for first in range(0, len(bounds), BATCH_WINDOWS):
            chunk = range(first, min(len(bounds), first + BATCH_WINDOWS))
            groups: dict[int, list[int]] = {}
            for index in chunk:
                groups.setdefault(frames[index][1] - frames[index][0], []).append(index)
            for indices in groups.values():
                # Each window brought to the same loudness: the mel is a power spectrogram.
                mels = np.stack(
                    [
                        mel[frames[index][0] : frames[index][1]] * _gain(samples[slice(*bounds[index])]) ** 2
                        for index in indices
                    ]
                ).astype(np.float32)
                with torch.inference_mode(), _torch_threads(self.threads):
                    rows = encoder(torch.from_numpy(mels).to(encoder.device)).cpu().numpy()
                embeddings[indices] = rows
        return times, embeddings

    def _loaded(self) -> Any:
        if self._encoder is None:
            raise RuntimeError(f"the {self.model_id} engine is closed")
        return self._encoder

    def close(self) -> None:
        self._encoder = None
        gc.collect()


@runtime_checkable
class WindowedSpeakerEmbedder(SpeakerEmbedder, Protocol):
    """A SpeakerEmbedder that embeds many overlapping windows of one clip at once."""

    def embed_windows(
        self, audio: Audio, window_s: float = ..., hop_s: float = ...
    ) -> tuple[npt.NDArray[np.float64], FloatArray]: ...


@dataclass(frozen=True)
class _Window:
    start: float
    end: float
    span: int
    """Index of the speech span the window lies in."""

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


class ClusteringDiarizer:
    """Diarizer from a VAD and a speaker embedder: windowed embeddings, agglomerative clustering.

    Speakers are found on ``window_s`` windows (long enough for a stable embedding); with more
    than one, ``resegment_window_s`` windows every ``resegment_hop_s`` are then given to the most
    similar speaker centroid, which places speaker changes more precisely.
    """

    def __init__(
        self,
        vad: VoiceActivityDetector,
        embedder: SpeakerEmbedder,
        *,
        window_s: float = 2.0,
        hop_s: float = 0.5,
        resegment_window_s: float | None = 1.0,
        resegment_hop_s: float = 0.25,
        similarity_threshold: float = 0.78,
        max_auto_speakers: int = 10,
        min_speaker_s: float = 1.0,
        min_turn_s: float = 0.5,
        merge_gap_s: float = 0.5,
        max_windows: int = 3000,
        max_chunk_s: float = 30.0,
        close_engines: bool = False,
    ) -> None:
        """
        ``similarity_threshold``: two clusters whose centroids' cosine similarity exceeds it are one
        speaker. ``min_speaker_s``: with the count chosen automatically, a speaker needs at least
        this much speech. ``resegment_window_s``: None skips the finer second pass.
        ``min_turn_s``: shorter turns next to another turn are absorbed by it.
        ``merge_gap_s``: turns of one speaker separated by a shorter pause are joined.
        ``max_windows`` bounds the clustering's memory on long recordings (the hop grows).
        ``close_engines``: ``close`` closes the VAD and the embedder too.
        """
        if window_s <= 0 or hop_s <= 0 or hop_s > window_s:
            raise ValueError("need 0 < hop_s <= window_s")
        if resegment_window_s is not None and not 0 < resegment_hop_s <= resegment_window_s:
            raise ValueError("need 0 < resegment_hop_s <= resegment_window_s")
        self.vad = vad
        self.embedder = embedder
        self.window_s = window_s
        self.hop_s = hop_s
        self.resegment_window_s = resegment_window_s
        self.resegment_hop_s = resegment_hop_s
        self.similarity_threshold = similarity_threshold
        self.max_auto_speakers = max_auto_speakers
        self.min_speaker_s = min_speaker_s
        self.min_turn_s = min_turn_s
        self.merge_gap_s = merge_gap_s
        self.max_windows = max_windows
        self.max_chunk_s = max_chunk_s
        self.close_engines = close_engines

    def diarize(
        self,
        audio: Audio,
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        progress: Progress | None = None,
    ) -> list[SpeakerTurn]:
        """Speaker turns, sorted and non-overlapping, labelled SPEAKER_00… by first appearance.

        ``progress`` receives the stages "vad", "embedding", "clustering" and "resegmentation".
        """
        check_speaker_bounds(min_speakers, max_speakers)
        report: Progress = progress or (lambda stage, fraction: None)
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)

        report("vad", 0.0)
        spans = (
            merge_speech_spans(self.vad.detect(samples), samples.size / SAMPLE_RATE) if samples.size else []
        )
        report("vad", 1.0)
        return self.diarize_speech(
            lambda first, last: samples[first:last],
            spans,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            progress=report,
        )

    def diarize_speech(
        self,
        read: SampleReader,
        spans: Sequence[SpeechSpan],
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        progress: Progress | None = None,
    ) -> list[SpeakerTurn]:
        """``diarize`` for speech already found (``spans`` as ``merge_speech_spans`` gives them).

        Only the spans' samples are read, a piece at a time, so a long recording need not be in
        memory. ``progress`` receives the stages "embedding", "clustering" and "resegmentation".
        """
        check_speaker_bounds(min_speakers, max_speakers)
        report: Progress = progress or (lambda stage, fraction: None)
        if not spans:
            return []

        windows, embeddings = self._embed(read, spans, self.window_s, self.hop_s, "embedding", report)

        report("clustering", 0.0)
        labels, speakers = self._cluster(
            embeddings, _owned_durations(windows, spans), min_speakers, max_speakers
        )
        report("clustering", 1.0)

        if speakers > 1 and self.resegment_window_s is not None:
            centroids = _centroids(embeddings, labels, speakers)
            fine_windows, fine_embeddings = self._embed(
                read, spans, self.resegment_window_s, self.resegment_hop_s, "resegmentation", report
            )
            fine_labels = _assign(fine_windows, fine_embeddings, centroids)
            if len(np.unique(fine_labels)) == speakers:
                windows, labels = fine_windows, fine_labels

        turns = self._smooth(self._turns(windows, labels, spans), keep_speakers=min_speakers or 1)
        return relabel_by_first_appearance(turns)

    # -- stages ---------------------------------------------------------------------------------

    def _hop(self, spans: Sequence[SpeechSpan], window: float, hop: float) -> float:
        """``hop``, or a longer one where the recording would give more than ``max_windows``."""
        while True:
            count = sum(1 + max(0, math.ceil((span.end - span.start - window) / hop)) for span in spans)
            if count <= self.max_windows:
                return hop
            hop *= 1.25

    def _embed(
        self,
        read: SampleReader,
        spans: Sequence[SpeechSpan],
        window: float,
        hop: float,
        stage: str,
        report: Progress,
    ) -> tuple[list[_Window], FloatArray]:
        hop = self._hop(spans, window, hop)
        total = sum(span.end - span.start for span in spans)
        done = 0.0
        report(stage, 0.0)
        windows: list[_Window] = []
        rows: list[FloatArray] = []
        for index, span in enumerate(spans):
            # Long spans go in chunks, so that progress moves on along a long monologue.
            chunk_start = span.start
            while chunk_start < span.end:
                last = span.end - chunk_start < self.max_chunk_s * 1.5
                chunk_end = span.end if last else chunk_start + self.max_chunk_s
                first = round(chunk_start * SAMPLE_RATE)
                times, embeddings = self._embed_piece(
                    read(first, round(chunk_end * SAMPLE_RATE)), window, hop
                )
                offset = first / SAMPLE_RATE
                windows.extend(_Window(offset + start, offset + end, index) for start, end in times)
                rows.append(embeddings)
                done += chunk_end - chunk_start
                report(stage, min(1.0, done / total))
                chunk_start = chunk_end
        return windows, np.concatenate(rows).astype(np.float32)

    def _embed_piece(
        self, piece: Audio, window: float, hop: float
    ) -> tuple[npt.NDArray[np.float64], FloatArray]:
        if isinstance(self.embedder, WindowedSpeakerEmbedder):
            times, embeddings = self.embedder.embed_windows(piece, window_s=window, hop_s=hop)
            return np.asarray(times, dtype=np.float64), np.asarray(embeddings, dtype=np.float32)
        bounds = window_bounds(piece.size, round(window * SAMPLE_RATE), round(hop * SAMPLE_RATE))
        rows = np.stack([self.embedder.embed(piece[start:end]) for start, end in bounds])
        return np.array(bounds, dtype=np.float64) / SAMPLE_RATE, rows.astype(np.float32)

    def _cluster(
        self,
        embeddings: FloatArray,
        owned: npt.NDArray[np.float64],
        min_speakers: int | None,
        max_speakers: int | None,
    ) -> tuple[npt.NDArray[np.int64], int]:
        """Labels of the windows and the number of speakers (see the module's docstring)."""
        count = len(embeddings)
        low = min(min_speakers or 1, count)
        high = min(max_speakers or max(self.max_auto_speakers, low), count)
        if high <= 1:
            return np.zeros(count, dtype=np.int64), 1
        tree = _merge_tree(embeddings)
        chosen = low
        for speakers in range(high, low - 1, -1):
            labels = _cut(tree, count, speakers)
            if speakers == 1 or self._distinct(embeddings, owned, labels, speakers):
                chosen = speakers
                break
        return _refine(embeddings, _cut(tree, count, chosen), chosen), chosen

    def _distinct(
        self,
        embeddings: FloatArray,
        owned: npt.NDArray[np.float64],
        labels: npt.NDArray[np.int64],
        speakers: int,
    ) -> bool:
        """Every cluster holds enough speech and no two clusters' centroids are alike."""
        durations = np.bincount(labels, weights=owned, minlength=speakers)
        if durations.min() < self.min_speaker_s:
            return False
        centroids = _centroids(embeddings, labels, speakers)
        similarity = centroids @ centroids.T
        upper = similarity[np.triu_indices(speakers, 1)]
        return bool(upper.max() < self.similarity_threshold)

    def _turns(
        self, windows: Sequence[_Window], labels: npt.NDArray[np.int64], spans: Sequence[SpeechSpan]
    ) -> list[SpeakerTurn]:
        """Each instant of a span goes to the window of that span whose centre is nearest."""
        by_span: dict[int, list[tuple[float, int]]] = {}
        for position, window in enumerate(windows):
            by_span.setdefault(window.span, []).append((window.centre, int(labels[position])))
        turns: list[SpeakerTurn] = []
        for index, span in enumerate(spans):
            members = sorted(by_span.get(index, []))
            cursor = span.start
            for position, (centre, label) in enumerate(members):
                end = span.end if position == len(members) - 1 else (centre + members[position + 1][0]) / 2
                end = min(max(end, cursor), span.end)
                if end > cursor:
                    _append(turns, SpeakerTurn(speaker_label(label), float(cursor), float(end)), 0.0)
                cursor = end
        return turns

    def _smooth(self, turns: list[SpeakerTurn], *, keep_speakers: int) -> list[SpeakerTurn]:
        """Join a speaker's turns across short pauses and absorb short turns into their neighbours.

        A speaker's only remaining turn is kept when fewer than ``keep_speakers`` would be left.
        """
        merged: list[SpeakerTurn] = []
        for turn in turns:
            _append(merged, turn, self.merge_gap_s)
        while True:
            candidates = sorted(
                (index for index, turn in enumerate(merged) if turn.end - turn.start < self.min_turn_s),
                key=lambda index: merged[index].end - merged[index].start,
            )
            changed = False
            for index in candidates:
                turn = merged[index]
                if not self._removable(merged, turn, keep_speakers):
                    continue
                neighbour = self._absorbing_neighbour(merged, index)
                if neighbour is None:
                    if turn.end - turn.start >= self.min_turn_s / 2:
                        continue  # an isolated short utterance is speech all the same
                    del merged[index]
                else:
                    other = merged[neighbour]
                    merged[neighbour] = SpeakerTurn(
                        other.speaker, min(other.start, turn.start), max(other.end, turn.end)
                    )
                    del merged[index]
                rejoined: list[SpeakerTurn] = []
                for kept in merged:
                    _append(rejoined, kept, self.merge_gap_s)
                merged = rejoined
                changed = True
                break
            if not changed:
                return merged

    @staticmethod
    def _removable(turns: Sequence[SpeakerTurn], turn: SpeakerTurn, keep_speakers: int) -> bool:
        if sum(other.speaker == turn.speaker for other in turns) > 1:
            return True
        return len({other.speaker for other in turns}) > keep_speakers

    def _absorbing_neighbour(self, turns: Sequence[SpeakerTurn], index: int) -> int | None:
        """The adjacent turn (within ``merge_gap_s``) that takes a short turn over: the longer one."""
        turn = turns[index]
        options = []
        if index > 0 and turn.start - turns[index - 1].end <= self.merge_gap_s:
            options.append(index - 1)
        if index + 1 < len(turns) and turns[index + 1].start - turn.end <= self.merge_gap_s:
            options.append(index + 1)
        if not options:
            return None
        return max(options, key=lambda option: turns[option].end - turns[option].start)

    def close(self) -> None:
        if self.close_engines:
            self.vad.close()
            self.embedder.close()


def _append(turns: list[SpeakerTurn], turn: SpeakerTurn, gap: float) -> None:
    """Append, extending the last turn instead when it is the same speaker within ``gap``."""
    if turns and turns[-1].speaker == turn.speaker and turn.start - turns[-1].end <= gap + 1e-9:
        last = turns[-1]
        turns[-1] = SpeakerTurn(last.speaker, last.start, max(last.end, turn.end))
    else:
        turns.append(turn)


def _owned_durations(windows: Sequence[_Window], spans: Sequence[SpeechSpan]) -> npt.NDArray[np.float64]:
    """Seconds of speech each window stands for: its share of its span, between neighbours' centres."""
    owned = np.zeros(len(windows), dtype=np.float64)
    by_span: dict[int, list[int]] = {}
    for position, window in enumerate(windows):
        by_span.setdefault(window.span, []).append(position)
    for span_index, positions in by_span.items():
        span = spans[span_index]
        positions.sort(key=lambda position: windows[position].centre)
        centres = [windows[position].centre for position in positions]
        for rank, position in enumerate(positions):
            start = span.start if rank == 0 else (centres[rank - 1] + centres[rank]) / 2
            end = span.end if rank == len(positions) - 1 else (centres[rank] + centres[rank + 1]) / 2
            owned[position] = max(0.0, end - start)
    return owned


def _merge_tree(embeddings: FloatArray) -> npt.NDArray[np.int64]:
    """Scikit-learn's agglomerative merges (cosine distance, average linkage), closest first."""
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None,
        distance_threshold=0.0,
        metric="cosine",
        linkage="average",
        compute_full_tree=True,
    ).fit(embeddings)
    return np.asarray(model.children_, dtype=np.int64)


def _cut(children: npt.NDArray[np.int64], count: int, clusters: int) -> npt.NDArray[np.int64]:
    """Labels of the ``count`` leaves after the first ``count - clusters`` merges of the tree."""
    parent = list(range(count))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    node_root: dict[int, int] = {}
    for step, (left, right) in enumerate(children[: count - clusters]):
        a = root(int(left) if left < count else node_root[int(left)])
        b = root(int(right) if right < count else node_root[int(right)])
        parent[b] = a
        node_root[count + step] = a
    roots = [root(leaf) for leaf in range(count)]
    order = {value: label for label, value in enumerate(dict.fromkeys(roots))}
    return np.array([order[value] for value in roots], dtype=np.int64)


def _centroids(embeddings: FloatArray, labels: npt.NDArray[np.int64], clusters: int) -> FloatArray:
    centroids = np.stack([embeddings[labels == label].mean(axis=0) for label in range(clusters)])
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    return (centroids / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _refine(
    embeddings: FloatArray, labels: npt.NDArray[np.int64], clusters: int, rounds: int = 3
) -> npt.NDArray[np.int64]:
    """Move each window to its most similar centroid (a few k-means steps), keeping every cluster."""
    for _ in range(rounds):
        centroids = _centroids(embeddings, labels, clusters)
        moved = np.argmax(embeddings @ centroids.T, axis=1).astype(np.int64)
        if len(np.unique(moved)) < clusters or np.array_equal(moved, labels):
            break
        labels = moved
    return labels


def _assign(
    windows: Sequence[_Window], embeddings: FloatArray, centroids: FloatArray
) -> npt.NDArray[np.int64]:
    """Each window to its most similar centroid, similarities averaged with its neighbours in a span."""
    scores = (embeddings @ centroids.T).astype(np.float64)
    smoothed = scores.copy()
    for position in range(len(windows)):
        neighbours = [
            other
            for other in (position - 1, position + 1)
            if 0 <= other < len(windows) and windows[other].span == windows[position].span
        ]
        smoothed[position] = scores[[position, *neighbours]].mean(axis=0)
    return np.argmax(smoothed, axis=1).astype(np.int64)


def relabel_by_first_appearance(turns: Sequence[SpeakerTurn]) -> list[SpeakerTurn]:
    """Sort turns and rename speakers SPEAKER_00, SPEAKER_01, … in order of first appearance."""
    ordered = sorted(turns, key=lambda turn: (turn.start, turn.end))
    names: dict[str, str] = {}
    for turn in ordered:
        names.setdefault(turn.speaker, speaker_label(len(names)))
    return [SpeakerTurn(names[turn.speaker], turn.start, turn.end) for turn in ordered]


def exclusive_turns(turns: Sequence[SpeakerTurn]) -> list[SpeakerTurn]:
    """Non-overlapping turns: where turns overlap, the one that started first keeps the overlap."""
    result: list[SpeakerTurn] = []
    for turn in sorted(turns, key=lambda turn: (turn.start, turn.end)):
        start = max(turn.start, result[-1].end) if result else turn.start
        if turn.end - start <= 1e-6:
            continue
        _append(result, SpeakerTurn(turn.speaker, start, turn.end), 0.0)
    return result


def turns_from_annotation(annotation: Any) -> list[SpeakerTurn]:
    """SpeakerTurns from a pyannote ``Annotation`` (or anything with ``itertracks(yield_label=True)``)."""
    turns = [
        SpeakerTurn(str(label), float(segment.start), float(segment.end))
        for segment, _track, label in annotation.itertracks(yield_label=True)
        if float(segment.end) > float(segment.start)
    ]
    return relabel_by_first_appearance(exclusive_turns(relabel_by_first_appearance(turns)))


class PyannoteDiarizer:
    """A pyannote.audio pipeline (Diarizer) loaded from a local ``config.yaml`` (optional extra)."""

    def __init__(self, pipeline: Any, *, model_id: str) -> None:
        self._pipeline: Any = pipeline
        self.model_id = model_id

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        *,
        model_id: str = "Pyannote-Speaker-Diarization-3.1",
        device: str = "cpu",
    ) -> PyannoteDiarizer:
        """``path``: the pipeline's directory (holding ``config.yaml``) or the ``config.yaml`` itself."""
        config = None if path is None else (Path(path) / "config.yaml" if Path(path).is_dir() else Path(path))
        where = path if path is not None else "the model's directory"

        def unavailable(reason: str) -> CapabilityError:
            return CapabilityError(
                model_id,
                "diarization",
                f"{reason}; install the pyannote extra (pip install 'sauti[pyannote]') "
                f"and place the pipeline's weights in {where}",
            )

        try:
            from pyannote.audio import Pipeline
        except ImportError as error:
            raise unavailable("pyannote.audio is not installed") from error
        if config is None or not config.is_file():
            raise unavailable(f"no pipeline config.yaml at {where}")
        try:
            pipeline = Pipeline.from_pretrained(str(config))
        except Exception as error:  # the hub client, missing checkpoints, version mismatches…
            raise unavailable(f"the pipeline at {config} could not be loaded ({error})") from error
        if pipeline is None:
            raise unavailable(f"the pipeline at {config} could not be loaded")
        import torch

        pipeline.to(torch.device(device))
        return cls(pipeline, model_id=model_id)

    def diarize(
        self,
        audio: Audio,
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        progress: Progress | None = None,
    ) -> list[SpeakerTurn]:
        if self._pipeline is None:
            raise RuntimeError(f"the {self.model_id} engine is closed")
        import torch

        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        if samples.size == 0:
            return []
        options: dict[str, int] = {}
        if min_speakers is not None:
            options["min_speakers"] = min_speakers
        if max_speakers is not None:
            options["max_speakers"] = max_speakers
        if progress is not None:
            progress("diarization", 0.0)
        output = self._pipeline(
            {"waveform": torch.from_numpy(samples).unsqueeze(0), "sample_rate": SAMPLE_RATE}, **options
        )
        # pyannote.audio 4 returns a DiarizeOutput; 3.x the Annotation itself.
        annotation = getattr(output, "exclusive_speaker_diarization", None)
        if annotation is None:
            annotation = getattr(output, "speaker_diarization", output)
        if progress is not None:
            progress("diarization", 1.0)
        return turns_from_annotation(annotation)

    def close(self) -> None:
        self._pipeline = None
        gc.collect()
