"""Engine benchmark: load time, speed and memory of every embedded model, each in its own process.

For each model: the time to materialise its bundled files (joined, linked or verified in place; the
first time, in a fresh models directory unless ``--models-dir`` names one already filled), the time
to load it (cold: the engine's libraries are imported on the way) and to load it again once closed
(warm), its resident memory, and its speed on a fixed workload:

- speech-to-text (Whisper): real-time factor on jfk.flac (11 s) and on jfk five times over (~59 s),
  the latter also with faster-whisper's temperature fallback off (repeated text triggers it)
- voice activity (Silero VAD) and forced alignment (PocketSphinx): real-time factor on the same
- diarization (Resemblyzer embeddings + Silero VAD, clustered): real-time factor and speakers found
  on the stereo fixture mixed to mono, and on the ~59 s jfk file (one speaker)
- text-to-speech (Piper, eSpeak NG): time to the first audio chunk and real-time factor, 3 sentences
- chat (llama.cpp GGUF): time to first token, prompt tokens/s and generation tokens/s (128 tokens)
- text embeddings (MiniLM): sentences/s on a batch, and the latency of one sentence

Every model runs in a subprocess (``--one MODEL --json``) so that its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``) is its own; the parent prints one table.

    .venv/bin/python bench/engines.py [--models Whisper-Tiny.en,Silero-VAD] [--repeat 3]

RTF is processing time / audio duration (lower is faster; below 1 is faster than real time). Each
figure is the median of ``--repeat`` timed runs after a warm-up on a small input (timed too: "first
call", what the first request after a load pays). The figures are figures, not a test: the script
exits 0 unless a model fails to run.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from domain.catalog import ModelVariant, find_variant  # noqa: E402
from workers.engines.model_files import ModelFiles  # noqa: E402
from workers.engines.registry import LOADERS  # noqa: E402

DEFAULT_MODELS: tuple[str, ...] = (
    "Whisper-Tiny.en",
    "Whisper-Base",
    "Silero-VAD",
    "PocketSphinx-en-us",
    "Resemblyzer",
    "Qwen2.5-Coder-0.5B-Instruct-GGUF",
    "SmolLM2-135M-Instruct-GGUF",
    "Piper-Joe-Medium",
    "eSpeak-NG",
    "all-MiniLM-L6-v2",
)
DEFAULT_AUDIO_DIR = REPO_ROOT.parent / "shared" / "fixtures" / "audio"
JSON_MARKER = "@@BENCH-RESULT@@ "
SAMPLE_RATE = 16_000
LONG_COPIES = 5
LONG_GAP_S = 1.0
"""The long file: jfk.flac LONG_COPIES times, LONG_GAP_S of silence between copies (~59 s)."""

JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
TTS_TEXT = (
    "The quick brown fox jumps over the lazy dog near the riverbank. "
    "Meanwhile, the morning train to the city was running twelve minutes late. "
    "Nobody on the platform seemed to mind, because the sun had finally come out."
)
LLM_CONTEXT = (
    "Sauti is a local voice server. It turns speech into text with Whisper, finds who spoke when by "
    "clustering speaker embeddings found on the speech that a voice activity detector marks, aligns "
    "known transcripts to the audio word by word, answers chat requests with small quantised language "
    "models running through llama.cpp, and speaks replies with Piper or eSpeak NG. Everything runs on "
    "the CPU of the machine it is installed on, and nothing is sent to a remote service. Jobs are "
    "recorded as events in an event store, so that a restarted worker resumes where it stopped, and "
    "clients follow a job's progress through a stream of events. Models ship as data packages next to "
    "the code; the large ones are split across several packages and joined on first use, then checked "
    "against a pinned SHA-256 digest before they are ever loaded. Realtime sessions combine the parts: "
    "audio arrives in small frames, the detector decides when the user has finished a sentence, the "
    "recogniser transcribes it, the language model writes an answer token by token, and the synthesiser "
    "speaks each sentence of the answer as soon as it is complete, so that the first words are heard "
    "well before the whole answer has been written. The latency that matters is therefore the time to "
    "the first token and the time to the first audio chunk, not the total time of each stage. "
)
LLM_QUESTION = (
    "Write a long, detailed essay in several paragraphs about the system described above: how each "
    "stage works, what limits its speed on a small computer, and how it could be improved."
)
LLM_MAX_TOKENS = 128
EMBEDDING_SENTENCES = 256
_SUBJECTS = ("The meeting", "A new voice model", "The quarterly report", "Our weekend trip", "The server")
_VERBS = ("was moved to", "will be discussed on", "needs a review before", "sounded great on", "crashed on")
_OBJECTS = ("Tuesday afternoon", "the first of March", "the next release", "a rainy evening", "launch day")


# --- results ------------------------------------------------------------------------------------


@dataclass
class Metric:
    name: str
    value: float | None
    unit: str
    detail: str = ""


@dataclass
class Result:
    model: str
    engine: str = ""
    files: str = ""
    """How the files were made present: joined from parts, linked, cached, verified in the package."""
    materialize_s: float | None = None
    load_s: float | None = None
    reload_s: float | None = None
    base_rss_mb: float | None = None
    """Resident memory before the model is loaded (interpreter, numpy, decoded test audio)."""
    loaded_rss_mb: float | None = None
    peak_rss_mb: float | None = None
    load_avg: float | None = None
    cpu_percent: float | None = None
    """CPU time the process used during the workloads / their wall time (200 = two cores busy)."""
    seconds: float | None = None
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Result:
        metrics = [Metric(**m) for m in raw.pop("metrics", [])]
        return cls(**raw, metrics=metrics)


# --- measurement helpers ------------------------------------------------------------------------


def current_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_pressure() -> str | None:
    """The kernel's CPU pressure (PSI): the share of time some runnable task waited for a CPU."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    fields = dict(item.split("=") for item in line.split()[1:])
    return f"{fields.get('avg10', '?')}% / {fields.get('avg60', '?')}% / {fields.get('avg300', '?')}%"


def measure(action: Callable[[], Any], repeat: int, min_total_s: float = 0.0, max_runs: int = 200) -> float:
    """The median duration of ``action``: ``repeat`` runs, more (up to ``max_runs``) until
    ``min_total_s`` has been spent, for actions too quick to time once."""
    durations: list[float] = []
    while len(durations) < max(1, repeat) or (sum(durations) < min_total_s and len(durations) < max_runs):
        started = time.perf_counter()
        action()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def first_call(action: Callable[[], Any], what: str) -> Metric:
    """Time the warm-up: the first request a freshly loaded engine serves (lazy imports, JIT, caches)."""
    started = time.perf_counter()
    action()
    return Metric("first call", time.perf_counter() - started, "s", f"warm-up: {what}")


def engine_class(engine: str) -> Any:
    module_name, _, class_name = LOADERS[engine].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


@dataclass
class Context:
    """What the workloads run on: decoded once per model process, before the model loads."""

    repeat: int
    jfk: Any
    long: Any
    mix: Any
    notes: list[str]

    @property
    def audio_sets(self) -> list[tuple[str, Any]]:
        return [("jfk", self.jfk), (f"jfk x{LONG_COPIES}", self.long)]


def seconds_of(audio: Any) -> float:
    return float(len(audio)) / SAMPLE_RATE


def make_context(audio_dir: Path, repeat: int) -> Context:
    import numpy as np

    from workers.engines.audio import decode_audio

    jfk = decode_audio(audio_dir / "jfk.flac")
    gap = np.zeros(round(LONG_GAP_S * SAMPLE_RATE), dtype=np.float32)
    pieces = [jfk]
    for _ in range(LONG_COPIES - 1):
        pieces += [gap, jfk]
    long = np.concatenate(pieces).astype(np.float32)
    mix = decode_audio(audio_dir / "stereo_diarization.wav")  # both channels mixed down to mono
    return Context(repeat=repeat, jfk=jfk, long=long, mix=mix, notes=[])


# --- workloads ----------------------------------------------------------------------------------


def bench_asr(engine: Any, ctx: Context) -> list[Metric]:
    def transcribe(audio: Any) -> list[Any]:
        _, segments = engine.transcribe(audio, language="en")
        return list(segments)

    metrics = [first_call(lambda: transcribe(ctx.jfk[: 2 * SAMPLE_RATE]), "2 s of jfk")]
    for label, audio in ctx.audio_sets:
        segments: list[Any] = []

        def run(audio: Any = audio, out: list[Any] = segments) -> None:
            out[:] = transcribe(audio)

        elapsed = measure(run, ctx.repeat)
        words = sum(len(s.text.split()) for s in segments)
        metrics.append(
            Metric(
                f"RTF {label} ({seconds_of(audio):.0f} s)",
                elapsed / seconds_of(audio),
                "rtf",
                f"{elapsed:.2f} s, {len(segments)} segments, {words} words",
            )
        )
        if label == "jfk":
            ctx.notes.append(f"jfk transcript: {' '.join(s.text for s in segments)!r}")
    metrics.append(bench_asr_without_fallback(engine, ctx))
    return metrics


def bench_asr_without_fallback(engine: Any, ctx: Context) -> Metric:
    """The long file once more, with faster-whisper's temperature fallback off.

    jfk repeated is repetitive text: each 30 s window's transcript compresses past faster-whisper's
    ``compression_ratio_threshold`` (2.4), so every window is decoded again at temperatures 0.2 … 1.0
    (best of 5 samples each). This row shows the decoding cost without those retries; it reaches
    past the adapter into the faster-whisper model, which the adapter does not expose.
    """
    model = getattr(engine, "_model", None)
    label = f"RTF jfk x{LONG_COPIES}, no fallback"
    if model is None or not hasattr(model, "transcribe"):
        return Metric(label, None, "rtf", "the adapter's faster-whisper model is not reachable")
    segments: list[Any] = []

    def run() -> None:
        found, _ = model.transcribe(
            ctx.long, language="en", beam_size=engine.beam_size, compression_ratio_threshold=None
        )
        segments[:] = list(found)

    elapsed = measure(run, ctx.repeat)
    words = sum(len(s.text.split()) for s in segments)
    return Metric(
        label,
        elapsed / seconds_of(ctx.long),
        "rtf",
        f"{elapsed:.2f} s, {len(segments)} segments, {words} words (compression_ratio_threshold=None)",
    )


def bench_vad(engine: Any, ctx: Context) -> list[Metric]:
    metrics = [first_call(lambda: engine.detect(ctx.jfk[:SAMPLE_RATE]), "1 s of jfk")]
    for label, audio in ctx.audio_sets:
        spans: list[Any] = []

        def run(audio: Any = audio, out: list[Any] = spans) -> None:
            out[:] = engine.detect(audio)

        elapsed = measure(run, ctx.repeat, min_total_s=1.0)
        speech = sum(span.end - span.start for span in spans)
        metrics.append(
            Metric(
                f"RTF {label} ({seconds_of(audio):.0f} s)",
                elapsed / seconds_of(audio),
                "rtf",
                f"{elapsed * 1000:.0f} ms, {len(spans)} spans, {speech:.1f} s speech",
            )
        )
    return metrics


def bench_alignment(engine: Any, ctx: Context) -> list[Metric]:
    metrics = [first_call(lambda: engine.align(ctx.jfk[: 2 * SAMPLE_RATE], "And so my fellow"), "2 s of jfk")]
    for (label, audio), copies in zip(ctx.audio_sets, (1, LONG_COPIES), strict=True):
        text = " ".join([JFK_TEXT] * copies)
        words: list[Any] = []

        def run(audio: Any = audio, text: str = text, out: list[Any] = words) -> None:
            out[:] = engine.align(audio, text)

        elapsed = measure(run, ctx.repeat, min_total_s=0.5)
        last = words[-1] if words else None
        where = f", {last.word!r} ends at {last.end:.2f} s" if last else ""
        metrics.append(
            Metric(
                f"RTF {label} ({seconds_of(audio):.0f} s)",
                elapsed / seconds_of(audio),
                "rtf",
                f"{elapsed * 1000:.0f} ms, {len(words)} words{where}",
            )
        )
    return metrics


def bench_diarization(engine: Any, ctx: Context) -> list[Metric]:
    metrics: list[Metric] = []
    if not hasattr(engine, "diarize"):  # no ClusteringDiarizer: time the embedder alone
        engine.embed(ctx.jfk[: 2 * SAMPLE_RATE])
        for label, audio in (("stereo mix", ctx.mix), *ctx.audio_sets):
            elapsed = measure(lambda audio=audio: engine.embed(audio), ctx.repeat)
            metrics.append(
                Metric(f"embed RTF {label}", elapsed / seconds_of(audio), "rtf", f"{elapsed:.2f} s")
            )
        return metrics
    metrics.append(first_call(lambda: engine.diarize(ctx.jfk[: 3 * SAMPLE_RATE]), "3 s of jfk"))
    for label, audio in (("stereo mix", ctx.mix), ctx.audio_sets[1]):
        turns: list[Any] = []

        def run(audio: Any = audio, out: list[Any] = turns) -> None:
            out[:] = engine.diarize(audio)

        elapsed = measure(run, ctx.repeat)
        speakers = len({turn.speaker for turn in turns})
        metrics.append(
            Metric(
                f"RTF {label} ({seconds_of(audio):.0f} s)",
                elapsed / seconds_of(audio),
                "rtf",
                f"{elapsed:.2f} s, {speakers} speaker(s), {len(turns)} turns",
            )
        )
    return metrics


def bench_tts(engine: Any, ctx: Context) -> list[Metric]:
    warm_up = first_call(lambda: list(engine.synthesize("Hello.")), "'Hello.'")
    firsts: list[float] = []
    totals: list[float] = []
    audio_s = 0.0
    chunks = 0
    runs = 0
    while runs < max(1, ctx.repeat) or (sum(totals) < 1.0 and runs < 50):
        runs += 1
        started = time.perf_counter()
        first: float | None = None
        audio_s = 0.0
        chunks = 0
        for chunk in engine.synthesize(TTS_TEXT):
            if first is None:
                first = time.perf_counter() - started
            chunks += 1
            audio_s += len(chunk.samples) / chunk.sample_rate
        totals.append(time.perf_counter() - started)
        firsts.append(first if first is not None else totals[-1])
    total = statistics.median(totals)
    return [
        warm_up,
        Metric("time to first audio", statistics.median(firsts), "s", f"{chunks} chunks, 3 sentences"),
        Metric(
            "RTF 3 sentences",
            total / audio_s if audio_s else None,
            "rtf",
            f"{total:.2f} s for {audio_s:.1f} s",
        ),
    ]


def bench_llm(engine: Any, ctx: Context) -> list[Metric]:
    from workers.engines.base import CompletionRequest

    def request(run: int, max_tokens: int) -> Any:
        # The run number leads the prompt: llama.cpp reuses the longest prefix it still holds, and the
        # prompt must be evaluated afresh each time.
        return CompletionRequest(
            messages=[
                {"role": "system", "content": f"Run {run}. You are a helpful technical writer."},
                {"role": "user", "content": f"{LLM_CONTEXT}\n\n{LLM_QUESTION}"},
            ],
            max_tokens=max_tokens,
            temperature=0.0,
        )

    hello = CompletionRequest(messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    warm_up = first_call(lambda: list(engine.complete(hello)), "'Hi', 4 tokens")
    ttfts: list[float] = []
    prompt_rates: list[float] = []
    gen_rates: list[float] = []
    prompt_tokens = completion_tokens = 0
    finish = ""
    for run in range(1, max(1, ctx.repeat) + 1):
        started = time.perf_counter()
        first: float | None = None
        last = started
        text_chunks = 0
        for chunk in engine.complete(request(run, LLM_MAX_TOKENS)):
            now = time.perf_counter()
            if chunk.text:
                text_chunks += 1
                last = now
                if first is None:
                    first = now
            if chunk.finish_reason:
                finish = chunk.finish_reason
                prompt_tokens = chunk.prompt_tokens or 0
                completion_tokens = chunk.completion_tokens or 0
        if first is None:
            raise RuntimeError("the model produced no text")
        ttft = first - started
        per_token = (last - first) / max(1, completion_tokens - 1)
        ttfts.append(ttft)
        # The first token's own decoding step is inside the time to first token: take it out.
        prompt_rates.append(prompt_tokens / max(1e-9, ttft - per_token))
        gen_rates.append(1 / per_token if per_token > 0 else float("nan"))
    return [
        warm_up,
        Metric("time to first token", statistics.median(ttfts), "s", f"{prompt_tokens}-token prompt"),
        Metric("prompt eval", statistics.median(prompt_rates), "tok/s", "prompt tokens / (TTFT - 1 token)"),
        Metric(
            "generation",
            statistics.median(gen_rates),
            "tok/s",
            f"{completion_tokens} tokens (max {LLM_MAX_TOKENS}), finish={finish}, {text_chunks} text chunks",
        ),
    ]


def bench_text_embedding(engine: Any, ctx: Context) -> list[Metric]:
    sentences = [
        f"{s} {v} {o}{' for the second time' * (i % 3)}, note {i}."
        for i, (s, v, o) in enumerate(
            (_SUBJECTS[i % 5], _VERBS[(i // 5) % 5], _OBJECTS[(i // 25) % 5])
            for i in range(EMBEDDING_SENTENCES)
        )
    ]
    warm_up = first_call(lambda: engine.embed(sentences[:8]), "8 sentences")
    batch = measure(lambda: engine.embed(sentences), ctx.repeat)
    single = measure(lambda: engine.embed(sentences[:1]), ctx.repeat, min_total_s=0.5)
    return [
        warm_up,
        Metric(
            "batch",
            EMBEDDING_SENTENCES / batch,
            "sent/s",
            f"{EMBEDDING_SENTENCES} sentences in {batch:.2f} s",
        ),
        Metric("one sentence", single, "s", "latency of a single embed call"),
    ]


Loader = Callable[[ModelVariant, Path, ModelFiles], Any]


def load_engine(variant: ModelVariant, path: Path, files: ModelFiles) -> Any:
    return engine_class(variant.engine).load(path, model_id=variant.id)


def load_diarizer(variant: ModelVariant, path: Path, files: ModelFiles) -> Any:
    """Resemblyzer as the server uses it: with Silero VAD, in the clustering diarizer."""
    embedder = load_engine(variant, path, files)
    vad_variant = find_variant("Silero-VAD")
    assert vad_variant is not None
    vad = load_engine(vad_variant, files.materialize(vad_variant), files)
    try:
        from workers.engines.diarization import ClusteringDiarizer
    except ImportError:
        vad.close()
        return embedder
    return ClusteringDiarizer(vad, embedder, close_engines=True)


BENCHES: dict[str, tuple[Callable[[Any, Context], list[Metric]], Loader]] = {
    "whisper": (bench_asr, load_engine),
    "silero": (bench_vad, load_engine),
    "pocketsphinx": (bench_alignment, load_engine),
    "resemblyzer": (bench_diarization, load_diarizer),
    "llama": (bench_llm, load_engine),
    "piper": (bench_tts, load_engine),
    "espeak": (bench_tts, load_engine),
    "minilm": (bench_text_embedding, load_engine),
}


# --- one model, in this process -----------------------------------------------------------------


def files_mode(variant: ModelVariant, files: ModelFiles) -> str:
    if variant.in_package is not None:
        return "in package"
    if files.is_present(variant):
        return "cached"
    joined = [len(f.parts) for f in variant.files if len(f.parts) > 1]
    return f"joined {'+'.join(map(str, joined))} parts" if joined else "copied"


def materialize(variant: ModelVariant, files: ModelFiles) -> tuple[Path, str]:
    mode = files_mode(variant, files)
    path = files.materialize(variant)
    if mode == "copied" and all(
        (files.directory(variant) / f.name).stat().st_nlink > 1 for f in variant.files if f.parts
    ):
        mode = "linked"
    return path, mode


def run_one(model_id: str, models_dir: Path, repeat: int, audio_dir: Path) -> Result:
    started = time.perf_counter()
    variant = find_variant(model_id)
    if variant is None:
        return Result(model=model_id, error=f"unknown model {model_id!r}")
    result = Result(model=variant.id, engine=variant.engine, load_avg=os.getloadavg()[0])
    try:
        bench, loader = BENCHES[variant.engine]
        ctx = make_context(audio_dir, repeat)
        result.base_rss_mb = current_rss_mb()
        files = ModelFiles(models_dir)

        t0 = time.perf_counter()
        path, result.files = materialize(variant, files)
        if variant.engine == "resemblyzer":  # the diarizer's VAD, materialised here to time it too
            vad_variant = find_variant("Silero-VAD")
            assert vad_variant is not None
            materialize(vad_variant, files)
        result.materialize_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        engine = loader(variant, path, files)
        result.load_s = time.perf_counter() - t0
        result.loaded_rss_mb = current_rss_mb()

        wall, cpu = time.perf_counter(), cpu_seconds()
        result.metrics = bench(engine, ctx)
        result.cpu_percent = 100 * (cpu_seconds() - cpu) / max(1e-9, time.perf_counter() - wall)
        result.peak_rss_mb = peak_rss_mb()
        result.notes = ctx.notes

        engine.close()
        del engine
        gc.collect()
        t0 = time.perf_counter()
        engine = loader(variant, path, files)
        result.reload_s = time.perf_counter() - t0
        engine.close()
    except Exception as error:
        result.error = f"{type(error).__name__}: {error}"
        result.peak_rss_mb = peak_rss_mb()
    result.seconds = time.perf_counter() - started
    return result


# --- the parent: one subprocess per model, one table --------------------------------------------


def run_in_subprocess(model_id: str, args: argparse.Namespace, models_dir: Path) -> Result:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--one",
        model_id,
        "--json",
        "--models-dir",
        str(models_dir),
        "--repeat",
        str(args.repeat),
        "--audio-dir",
        str(args.audio_dir),
    ]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=args.timeout, cwd=REPO_ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return Result(model=model_id, error=f"timed out after {args.timeout} s")
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(JSON_MARKER):
            return Result.from_json(json.loads(line[len(JSON_MARKER) :]))
    tail = (completed.stderr or completed.stdout).strip().splitlines()[-5:]
    return Result(model=model_id, error=f"exit {completed.returncode}: {' | '.join(tail)}")


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    if unit in ("tok/s", "sent/s"):
        return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "rtf":
        return f"{value:.4f}" if value < 0.01 else f"{value:.3f}"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def print_table(header: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[bool]) -> None:
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True)]
        return "  ".join(cells).rstrip()

    print(line(table[0]))
    print("  ".join("-" * w for w in widths))
    for row in table[1:]:
        print(line(row))


def print_results(results: Sequence[Result]) -> None:
    header = [
        "model",
        "files",
        "mat s",
        "load s",
        "reload s",
        "base MB",
        "loaded MB",
        "peak MB",
        "load1",
        "cpu%",
        "workload",
        "value",
        "detail",
    ]
    right = [False, False, True, True, True, True, True, True, True, True, False, True, False]
    rows: list[list[str]] = []
    for r in results:
        head = [
            r.model,
            r.files or "-",
            fmt(r.materialize_s),
            fmt(r.load_s),
            fmt(r.reload_s),
            fmt(r.base_rss_mb),
            fmt(r.loaded_rss_mb),
            fmt(r.peak_rss_mb),
            fmt(r.load_avg),
            "-" if r.cpu_percent is None else f"{r.cpu_percent:.0f}",
        ]
        lines = [[m.name, fmt(m.value, m.unit), m.detail] for m in r.metrics]
        if r.error:
            lines.append(["FAILED", "", r.error[:100]])
        for index, tail in enumerate(lines or [["-", "", ""]]):
            rows.append((head if index == 0 else [""] * len(head)) + tail)
    print_table(header, rows, right)


def library_versions() -> str:
    names = (
        "faster-whisper",
        "ctranslate2",
        "onnxruntime",
        "torch",
        "llama_cpp_python",
        "piper-tts",
        "sentence-transformers",
        "pocketsphinx",
        "resemblyzer",
    )
    found: list[str] = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def print_context(models_dir: Path, args: argparse.Namespace) -> None:
    cpus = usable_cpus()
    print("Sauti engine benchmark")
    print(f"  cpus        {cpus} usable of {os.cpu_count()} ({cpu_model()})")
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        print(f"  memory      {pages / 2**30:.1f} GiB")
    except (ValueError, OSError, AttributeError):
        pass
    print(f"  python      {platform.python_version()} on {platform.platform()}")
    print(f"  libraries   {library_versions()}")
    print(f"  models dir  {models_dir}")
    print(f"  repeat      {args.repeat} timed run(s) per figure, median (quick ones repeated more)")
    load = os.getloadavg()
    print(f"  load avg    {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min)")
    pressure = cpu_pressure()
    if pressure:
        print(f"  cpu psi     {pressure} (10 s / 60 s / 300 s: time some task waited for a cpu)")
    if load[0] > 0.5 * cpus:
        print(
            f"  ! the machine is busy (load {load[0]:.1f} on {cpus} cpus): "
            "other processes compete for the cores, so speeds will be understated and noisy"
        )
    print(flush=True)


# --- command line -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help="comma-separated model ids (case-insensitive); default: every embedded model",
    )
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per figure (the median is shown)")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="where bundled files are materialised (default: a fresh temporary directory, removed after)",
    )
    parser.add_argument("--audio-dir", type=Path, default=DEFAULT_AUDIO_DIR, help="jfk.flac and friends")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per model")
    parser.add_argument("--one", metavar="MODEL", help="benchmark one model in this process")
    parser.add_argument("--json", action="store_true", help="with --one: print the result as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:
        models_dir = args.models_dir or Path(tempfile.mkdtemp(prefix="sauti-bench-models-"))
        result = run_one(args.one, models_dir, args.repeat, args.audio_dir)
        if args.json:
            print(JSON_MARKER + json.dumps(asdict(result)), flush=True)
        else:
            print_results([result])
            for note in result.notes:
                print(f"  {result.model}: {note}")
        if args.models_dir is None:
            shutil.rmtree(models_dir, ignore_errors=True)
        return 1 if result.error else 0

    wanted = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in wanted if find_variant(name) is None]
    if unknown:
        print(f"unknown model(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    models_dir = args.models_dir or Path(tempfile.mkdtemp(prefix="sauti-bench-models-"))
    models_dir.mkdir(parents=True, exist_ok=True)
    print_context(models_dir, args)
    started = time.perf_counter()
    results: list[Result] = []
    try:
        for name in wanted:
            print(f"  running {name} ...", end="", flush=True)
            result = run_in_subprocess(name, args, models_dir)
            print(f" {result.seconds or 0:.1f} s{'  FAILED' if result.error else ''}", flush=True)
            results.append(result)
    finally:
        if args.models_dir is None:
            shutil.rmtree(models_dir, ignore_errors=True)
    print()
    print_results(results)
    print()
    print("mat s: materialising the bundled files (the first time in this models dir; 'in package':")
    print("  verifying the file's sha256 where it is installed, as every worker process does once).")
    print("load s: first load, the engine's libraries imported on the way; reload s: after close().")
    print("base MB: RSS before loading; loaded MB: RSS after loading; peak MB: ru_maxrss after the work.")
    print("RTF: processing time / audio duration (lower is faster). load1: 1-min load avg at start.")
    print(
        f"cpu%: the model process's cpu time / wall time during the workloads ({usable_cpus()} cpus: at most"
    )
    print(f"  {100 * usable_cpus()}; well below that with every thread busy means it waited for a core).")
    for result in results:
        for note in result.notes:
            print(f"{result.model}: {note}")
    load = os.getloadavg()
    elapsed = time.perf_counter() - started
    print(f"\ntotal {elapsed:.0f} s; load avg now {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", end="")
    print(f"; cpu psi {cpu_pressure()}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
