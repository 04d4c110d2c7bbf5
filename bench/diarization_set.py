"""A public diarization evaluation set: real recorded speech, composed into conversations, with RTTMs.

Nothing here is committed audio: every file is made, deterministically (a seeded generator), from
recordings that may be redistributed, located at run time:

- ``sample.wav`` / ``sample.rttm`` from the pyannote.audio package (MIT): a real two-person
  conversation (30 s) with its reference annotation. Taken from an installed pyannote.audio, or
  from its wheel, fetched with pip (``--no-deps``) into the cache directory and checked against a
  pinned sha256.
- ``jfk.flac`` (public domain: a US government recording) and ``stereo_diarization.wav`` (one
  speaker a channel), the project's shared fixtures.

Five voices come out of them: ``jfk``, ``stereo-left``, ``stereo-right`` (each channel on its own)
and ``sample-a`` / ``sample-b`` (the stretches of the sample where its reference has one speaker).
Each voice's utterances are its phrases as Silero VAD finds them, with their speech spans as an
annotator marks them (Silero again: 30 ms padding, pauses of 250 ms or more left out); the
sample's are its reference turns.
A composed conversation picks utterances of alternating voices, at a random loudness (±4 dB),
separated by pauses, or starting before the previous one ends (overlapped speech), and the RTTM
is written as it goes: every utterance's speech spans, where they were placed.

    .venv/bin/python bench/diarization_set.py OUT_DIR [--long] [--cache DIR]

writes ``OUT_DIR/<name>.wav`` (16 kHz mono, 16-bit) and ``OUT_DIR/<name>.rttm`` for every set in
``SETS`` (``--long`` adds the 30- and 60-minute three-speaker recordings).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from workers.engines.audio import decode_audio  # noqa: E402
from workers.engines.base import SAMPLE_RATE, Audio  # noqa: E402

FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "audio"
JFK = FIXTURES / "jfk.flac"
STEREO = FIXTURES / "stereo_diarization.wav"
PYANNOTE_AUDIO = "pyannote.audio==4.0.7"
SAMPLE_MEMBERS = {
    "sample.wav": "c319b4abca767b124e41432d364fd7df006cb26bb79d09326c487d606a134e6e",
    "sample.rttm": "d78fe62c69d8e6dcbb42c26adfce83faccb374c5a1e6d987fe37f85f1c173c87",
}
DEFAULT_CACHE = Path.home() / ".cache" / "sauti-diarization-set"
EDGE_S = 0.05
"""Audio kept around each utterance's speech."""

Spans = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Utterance:
    voice: str
    samples: Audio
    speech: Spans
    """Where the voice speaks, in seconds from the utterance's start."""


@dataclass(frozen=True)
class Recording:
    name: str
    samples: Audio
    turns: tuple[tuple[str, float, float], ...]
    """The reference: (speaker, start, end), sorted by start."""

    @property
    def speakers(self) -> list[str]:
        return sorted({speaker for speaker, _, _ in self.turns})

    @property
    def duration(self) -> float:
        return self.samples.size / SAMPLE_RATE


@dataclass(frozen=True)
class SetSpec:
    name: str
    voices: tuple[str, ...]
    seconds: float
    overlap: float
    """Chance that an utterance starts before the previous one ends."""
    seed: int
    long: bool = False


SETS: tuple[SetSpec, ...] = (
    SetSpec("call-2spk-a", ("jfk", "stereo-right"), 90.0, 0.15, 1),
    SetSpec("call-2spk-b", ("stereo-left", "sample-b"), 90.0, 0.15, 2),
    SetSpec("meeting-4spk", ("jfk", "stereo-left", "stereo-right", "sample-a"), 150.0, 0.4, 3),
    SetSpec("long-3spk-30min", ("jfk", "stereo-left", "sample-b"), 1800.0, 0.1, 4, long=True),
    SetSpec("long-3spk-60min", ("jfk", "stereo-left", "sample-b"), 3600.0, 0.1, 5, long=True),
)


# --- sources -----------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pyannote_sample(cache: Path = DEFAULT_CACHE) -> tuple[Path, Path]:
    """``sample.wav`` and ``sample.rttm`` of pyannote.audio (installed, cached, or fetched)."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("pyannote.audio")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "sample"
        if all((folder / name).is_file() for name in SAMPLE_MEMBERS):
            return folder / "sample.wav", folder / "sample.rttm"
    cache.mkdir(parents=True, exist_ok=True)
    paths = [cache / name for name in SAMPLE_MEMBERS]
    if all(path.is_file() and _sha256(path.read_bytes()) == SAMPLE_MEMBERS[path.name] for path in paths):
        return paths[0], paths[1]
    wheels = sorted(cache.glob("pyannote_audio-*.whl"))
    if not wheels:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "-d",
                str(cache),
                PYANNOTE_AUDIO,
            ],
            check=True,
        )
        wheels = sorted(cache.glob("pyannote_audio-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for path in paths:
            data = wheel.read(f"pyannote/audio/sample/{path.name}")
            if _sha256(data) != SAMPLE_MEMBERS[path.name]:
                raise ValueError(f"{wheels[-1].name}: {path.name} is not the pinned file")
            path.write_bytes(data)
    return paths[0], paths[1]


def read_rttm(path: Path) -> list[tuple[str, float, float]]:
    turns = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start, length = float(fields[3]), float(fields[4])
            turns.append((fields[7], start, start + length))
    return sorted(turns, key=lambda turn: (turn[1], turn[2]))


def write_rttm(path: Path, name: str, turns: Iterable[tuple[str, float, float]]) -> None:
    lines = [
        f"SPEAKER {name} 1 {start:.3f} {end - start:.3f} <NA> <NA> {speaker} <NA> <NA>"
        for speaker, start, end in sorted(turns, key=lambda turn: (turn[1], turn[2]))
    ]
    path.write_text("\n".join(lines) + "\n")


def write_wav(path: Path, samples: Audio) -> None:
    import soundfile

    soundfile.write(str(path), np.clip(samples, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")


def speech_spans(audio: Audio, vad: object) -> list[tuple[float, float]]:
    """Where a clean single-voice clip has speech, as an annotator marks it: Silero VAD with
    30 ms of padding, pauses of 250 ms or more left out."""
    spans = vad.detect(audio, min_silence_ms=250, speech_pad_ms=30)  # type: ignore[attr-defined]
    return [(span.start, span.end) for span in spans]


def _vad_utterances(voice: str, audio: Audio, vad: object) -> list[Utterance]:
    """A voice's phrases (speech separated by pauses of 0.5 s or more), with their speech spans."""
    speech = speech_spans(audio, vad)
    utterances = []
    for phrase in vad.detect(audio):  # type: ignore[attr-defined]
        first = max(0, round((phrase.start - EDGE_S) * SAMPLE_RATE))
        last = min(audio.size, round((phrase.end + EDGE_S) * SAMPLE_RATE))
        offset, end = first / SAMPLE_RATE, last / SAMPLE_RATE
        inside = tuple(
            (max(a, offset) - offset, min(b, end) - offset) for a, b in speech if b > offset and a < end
        )
        if inside:
            utterances.append(Utterance(voice, audio[first:last].copy(), inside))
    return utterances


def _alone(turns: Sequence[tuple[str, float, float]], speaker: str) -> list[tuple[float, float]]:
    """Stretches where the reference has ``speaker`` and nobody else."""
    alone = []
    for name, start, end in turns:
        if name != speaker:
            continue
        pieces = [(start, end)]
        for other, other_start, other_end in turns:
            if other == speaker:
                continue
            pieces = [
                piece
                for a, b in pieces
                for piece in ((a, min(b, other_start)), (max(a, other_end), b))
                if piece[1] - piece[0] > 1e-6
            ]
        alone.extend(pieces)
    return alone


def _sample_utterances(audio: Audio, turns: Sequence[tuple[str, float, float]]) -> dict[str, list[Utterance]]:
    voices: dict[str, list[Utterance]] = {}
    for voice, speaker in zip(("sample-a", "sample-b"), sorted({t[0] for t in turns}), strict=True):
        for start, end in _alone(turns, speaker):
            if end - start < 0.8:
                continue
            first, last = round(start * SAMPLE_RATE), round(end * SAMPLE_RATE)
            voices.setdefault(voice, []).append(
                Utterance(voice, audio[first:last].copy(), ((0.0, (last - first) / SAMPLE_RATE),))
            )
    return voices


def load_voices(cache: Path = DEFAULT_CACHE) -> dict[str, list[Utterance]]:
    """The five voices' utterances (see the module's docstring)."""
    from workers.engines.vad import SileroVad

    vad = SileroVad.load()
    try:
        voices = {
            "jfk": _vad_utterances("jfk", decode_audio(JFK), vad),
            "stereo-left": _vad_utterances("stereo-left", decode_audio(STEREO, channel=0), vad),
            "stereo-right": _vad_utterances("stereo-right", decode_audio(STEREO, channel=1), vad),
        }
    finally:
        vad.close()
    wav, rttm = pyannote_sample(cache)
    voices.update(_sample_utterances(decode_audio(wav), read_rttm(rttm)))
    return voices


def one_speaker(vad: object | None = None) -> Recording:
    """jfk.flac as it is: one speaker (a diarizer must not find two)."""
    from workers.engines.vad import SileroVad

    engine = vad or SileroVad.load()
    audio = decode_audio(JFK)
    turns = tuple(("jfk", start, end) for start, end in speech_spans(audio, engine))
    if vad is None:
        engine.close()  # type: ignore[attr-defined]
    return Recording("jfk-1spk", audio, turns)


def pyannote_recording(cache: Path = DEFAULT_CACHE) -> Recording:
    wav, rttm = pyannote_sample(cache)
    return Recording("pyannote-sample", decode_audio(wav), tuple(read_rttm(rttm)))


def stereo_mix(vad: object | None = None) -> Recording:
    """The stereo fixture mixed to mono; the reference is the VAD run on each channel."""
    from workers.engines.vad import SileroVad

    engine = vad or SileroVad.load()
    turns = [
        (voice, start, end)
        for voice, channel in (("stereo-left", 0), ("stereo-right", 1))
        for start, end in speech_spans(decode_audio(STEREO, channel=channel), engine)
    ]
    if vad is None:
        engine.close()  # type: ignore[attr-defined]
    return Recording("stereo-mix", decode_audio(STEREO), tuple(sorted(turns, key=lambda t: (t[1], t[2]))))


# --- composing ---------------------------------------------------------------------------------


def compose(
    name: str,
    voices: dict[str, list[Utterance]],
    speakers: Sequence[str],
    seconds: float,
    *,
    overlap: float,
    seed: int,
) -> Recording:
    """A conversation of about ``seconds`` between ``speakers`` (voice names), deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    placed: list[tuple[Utterance, float, float]] = []  # utterance, start, gain
    cursor = 0.0
    last_voice: str | None = None
    previous_start = 0.0
    while cursor < seconds:
        choices = [voice for voice in speakers if voice != last_voice] or list(speakers)
        voice = choices[int(rng.integers(len(choices)))]
        utterance = voices[voice][int(rng.integers(len(voices[voice])))]
        length = utterance.samples.size / SAMPLE_RATE
        if placed and rng.random() < overlap:
            previous_length = placed[-1][0].samples.size / SAMPLE_RATE
            back = float(rng.uniform(0.3, max(0.35, min(1.5, 0.6 * previous_length, 0.6 * length))))
            start = max(previous_start + 0.2, cursor - back)
        else:
            start = cursor + float(rng.uniform(0.1, 1.0)) if placed else 0.3
        gain = float(10 ** (rng.uniform(-4.0, 4.0) / 20))
        placed.append((utterance, start, gain))
        previous_start = start
        cursor = max(cursor, start + length)
        last_voice = voice
    total = round((cursor + 0.5) * SAMPLE_RATE)
    mix = np.zeros(total, dtype=np.float32)
    turns: list[tuple[str, float, float]] = []
    for utterance, start, gain in placed:
        first = round(start * SAMPLE_RATE)
        mix[first : first + utterance.samples.size] += utterance.samples * gain
        offset = first / SAMPLE_RATE
        turns.extend((utterance.voice, offset + a, offset + b) for a, b in utterance.speech)
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    if peak > 0.95:
        mix *= 0.95 / peak
    return Recording(name, mix, tuple(_merge_turns(turns)))


def _merge_turns(turns: Iterable[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """One speaker's touching or overlapping spans joined (an RTTM lists a speaker's speech once)."""
    merged: dict[str, list[list[float]]] = {}
    for speaker, start, end in sorted(turns, key=lambda turn: (turn[1], turn[2])):
        spans = merged.setdefault(speaker, [])
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return sorted(
        ((speaker, a, b) for speaker, spans in merged.items() for a, b in spans),
        key=lambda turn: (turn[1], turn[2]),
    )


def build(spec: SetSpec, voices: dict[str, list[Utterance]]) -> Recording:
    return compose(spec.name, voices, spec.voices, spec.seconds, overlap=spec.overlap, seed=spec.seed)


def save(recording: Recording, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_wav(directory / f"{recording.name}.wav", recording.samples)
    write_rttm(directory / f"{recording.name}.rttm", recording.name, recording.turns)
    return directory / f"{recording.name}.wav"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--long", action="store_true", help="also the 30- and 60-minute recordings")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    wav, rttm = pyannote_sample(args.cache)
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(wav, args.out / "pyannote-sample.wav")
    write_rttm(args.out / "pyannote-sample.rttm", "pyannote-sample", read_rttm(rttm))
    save(stereo_mix(), args.out)
    save(one_speaker(), args.out)
    voices = load_voices(args.cache)
    for spec in SETS:
        if spec.long and not args.long:
            continue
        recording = build(spec, voices)
        save(recording, args.out)
        print(f"{recording.name}: {recording.duration:.0f} s, {len(recording.speakers)} speakers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
