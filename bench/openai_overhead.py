"""What the server adds on top of the engines, through the OpenAI-compatible routes.

Each workload runs directly on its engine in this process (the worker's own ``WhisperEngine``,
which runs faster-whisper on Silero VAD spans; llama-cpp-python; the worker's Piper engine) and
through a real ``sauti serve`` (its own data directory, one worker process), in pairs: one
direct run, then one served run, pair after pair while the server is up (after one warm-up
pair, which loads the models), so that both halves of a pair see the same load on a shared machine.
Each figure is the median of ``--repeat`` pairs, and each ratio the median of the pairs' ratios:

- transcription: the same ~59 s file (jfk.flac five times, 1 s of silence between copies),
  Whisper-Tiny.en, language en, beam 5; served time / direct time (target ≤ 1.05); faster-whisper
  called bare (no VAD) is printed too, for what the VAD costs;
- chat: generation tokens/s of the default chat model, streamed, temperature 0, 128 tokens;
- speech: time to the first audio chunk (SSE) for three sentences with Piper-Joe-Medium, and the
  time of the whole synthesis.

The server's figure includes everything a client pays: upload, the request event and the broker
message, decoding in the worker, the result events, and the response. The client is one
``httpx.Client`` kept for every request, as an application keeps one (a new client costs tens of
milliseconds of its own).

    .venv/bin/python bench/openai_overhead.py [--repeat 3] [--only asr,chat,tts] [--repo PATH]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from domain.catalog import find_variant  # noqa: E402
from workers.engines.model_files import ModelFiles  # noqa: E402


def _engine_bench() -> Any:
    """bench/engines.py, for its workloads (the long file, the prompt, the TTS text)."""
    spec = importlib.util.spec_from_file_location("engine_bench", Path(__file__).with_name("engines.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["engine_bench"] = module
    spec.loader.exec_module(module)
    return module


engine_bench = _engine_bench()
ASR_MODEL = "Whisper-Tiny.en"
CHAT_MODEL = "Qwen2.5-Coder-0.5B-Instruct-GGUF"
TTS_MODEL = "Piper-Joe-Medium"
READY_TIMEOUT = 120.0


# --- the server ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(
    data_dir: Path, *, repo: Path = REPO_ROOT, workers: int = 1, env_extra: dict[str, str] | None = None
) -> Iterator[str]:
    """``sauti serve`` of the tree at ``repo`` (this one by default: ``PYTHONPATH`` points at it, so
    an editable install of another checkout is not what runs). With ``workers=0`` jobs stay queued
    and the server counts as up once ``/livez`` answers (``/readyz`` waits for a worker)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAUTI_")}
    python_path = [str(repo), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        PYTHONPATH=os.pathsep.join(python_path), SAUTI_DATA_DIR=str(data_dir), SAUTI_LOG_LEVEL="WARNING"
    )
    env.update(env_extra or {})
    log = open(data_dir.parent / "server.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "sauti"), "serve", "--port", str(port), "--workers", str(workers)],
        cwd=repo,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            with contextlib.suppress(httpx.HTTPError):
                probe = "/readyz" if workers else "/livez"
                if httpx.get(f"{base_url}{probe}", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sauti serve did not become ready; see {log.name}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def median_of(action: Callable[[], float], repeat: int) -> float:
    action()  # warm-up: loads the model where it is not loaded yet
    return statistics.median(action() for _ in range(max(1, repeat)))


# --- transcription -----------------------------------------------------------------------------


def wav_bytes(samples: np.ndarray, sample_rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def whisper_direct() -> Any:
    """The ASR model loaded in this process, as the worker loads it."""
    from faster_whisper import WhisperModel

    from workers.engines.whisper import default_cpu_threads

    variant = find_variant(ASR_MODEL)
    assert variant is not None
    path = ModelFiles(Path(tempfile.mkdtemp()) / "models").materialize(variant)
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=default_cpu_threads())


def asr_direct_run(model: Any, samples: np.ndarray) -> tuple[float]:
    started = time.perf_counter()
    segments, _ = model.transcribe(samples, language="en", beam_size=5)
    list(segments)
    return (time.perf_counter() - started,)


def asr_direct(samples: np.ndarray, repeat: int) -> float:
    model = whisper_direct()
    return median_of(lambda: asr_direct_run(model, samples)[0], repeat)


def whisper_engine() -> Any:
    """The worker's own engine (``WhisperEngine``: faster-whisper behind Silero VAD spans), loaded
    in this process as the worker loads it: the same inference the served path runs."""
    from workers.engines.whisper import WhisperEngine

    variant = find_variant(ASR_MODEL)
    assert variant is not None
    path = ModelFiles(Path(tempfile.mkdtemp()) / "models").materialize(variant)
    return WhisperEngine.load(path, model_id=ASR_MODEL)


def asr_engine_run(engine: Any, samples: np.ndarray) -> tuple[float]:
    started = time.perf_counter()
    _, segments = engine.transcribe(samples, language="en")
    list(segments)
    return (time.perf_counter() - started,)


def asr_server_run(client: httpx.Client, audio: bytes) -> tuple[float]:
    started = time.perf_counter()
    response = client.post(
        "/v1/audio/transcriptions",
        files={"file": ("long.wav", audio, "audio/wav")},
        data={"model": ASR_MODEL, "language": "en", "response_format": "json"},
    )
    response.raise_for_status()
    return (time.perf_counter() - started,)


# --- chat -----------------------------------------------------------------------------------------


def chat_messages(run: int) -> list[dict[str, str]]:
    # A fresh first line each run: llama.cpp reuses a cached prompt prefix otherwise.
    return [
        {"role": "system", "content": f"Run {run}. You are a helpful technical writer."},
        {"role": "user", "content": f"{engine_bench.LLM_CONTEXT}\n\n{engine_bench.LLM_QUESTION}"},
    ]


def tokens_per_second(tokens: int, first: float | None, last: float) -> float:
    if first is None or tokens < 2 or last <= first:
        return float("nan")
    return (tokens - 1) / (last - first)


def direct_llm() -> Any:
    """The default chat model loaded in this process, as the worker loads it."""
    from llama_cpp import Llama

    from workers.engines.llm import DEFAULT_CONTEXT, cpu_threads

    variant = find_variant(CHAT_MODEL)
    assert variant is not None
    path = ModelFiles(Path(tempfile.mkdtemp()) / "models").materialize(variant)
    if path.is_dir():
        path = next(path.glob("*.gguf"))
    return Llama(model_path=str(path), n_ctx=DEFAULT_CONTEXT, n_threads=cpu_threads(), verbose=False)


def chat_direct_run(llm: Any, run: int) -> tuple[float, float]:
    """One streamed generation on the library: (tokens/s, seconds for the whole request)."""
    started = time.perf_counter()
    first: float | None = None
    last = started
    pieces: list[str] = []
    for event in llm.create_chat_completion(
        messages=chat_messages(run),
        max_tokens=engine_bench.LLM_MAX_TOKENS,
        temperature=0.0,
        stream=True,
    ):
        text = event["choices"][0]["delta"].get("content")
        if text:
            last = time.perf_counter()
            first = first or last
            pieces.append(text)
    tokens = len(llm.tokenize("".join(pieces).encode(), add_bos=False))
    return tokens_per_second(tokens, first, last), time.perf_counter() - started


def chat_server_run(client: httpx.Client, run: int) -> tuple[float, float]:
    """The same generation through ``POST /v1/chat/completions`` (SSE)."""
    body = {
        "model": CHAT_MODEL,
        "messages": chat_messages(run),
        "max_tokens": engine_bench.LLM_MAX_TOKENS,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first: float | None = None
    last = started
    tokens = 0
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            for choice in chunk.get("choices", []):
                if choice.get("delta", {}).get("content"):
                    last = time.perf_counter()
                    first = first or last
    return tokens_per_second(tokens, first, last), time.perf_counter() - started


@dataclass
class Paired:
    """One figure measured directly and through the server, pair by pair."""

    direct: list[float]
    served: list[float]

    @property
    def direct_median(self) -> float:
        return statistics.median(self.direct)

    @property
    def served_median(self) -> float:
        return statistics.median(self.served)

    @property
    def ratio(self) -> float:
        """The median of each pair's served / direct figure."""
        return statistics.median(s / d for d, s in zip(self.direct, self.served, strict=True))

    @property
    def added(self) -> float:
        """The median of each pair's served - direct figure."""
        return statistics.median(s - d for d, s in zip(self.direct, self.served, strict=True))


def alternate(
    direct: Callable[[int], tuple[float, ...]], served: Callable[[int], tuple[float, ...]], repeat: int
) -> list[Paired]:
    """Direct and served runs one after the other, pair by pair (after one warm-up pair, which also
    loads the model where it is not loaded yet), so that both see the same load on a shared machine.
    Each run returns its figures; the answer pairs them up figure by figure."""
    pairs: list[tuple[tuple[float, ...], tuple[float, ...]]] = []
    for run in range(max(1, repeat) + 1):
        pair = (direct(run), served(run))
        if run > 0:
            pairs.append(pair)
    return [
        Paired([d[index] for d, _ in pairs], [s[index] for _, s in pairs])
        for index in range(len(pairs[0][0]))
    ]


# --- speech ---------------------------------------------------------------------------------------


def piper_direct() -> Any:
    from workers.engines.tts_piper import PiperEngine

    variant = find_variant(TTS_MODEL)
    assert variant is not None
    path = ModelFiles(Path(tempfile.mkdtemp()) / "models").materialize(variant)
    return PiperEngine.load(path, model_id=TTS_MODEL)


def tts_direct_run(engine: Any) -> tuple[float, float]:
    """(seconds to the first audio chunk, seconds to the last) on the library."""
    started = time.perf_counter()
    chunks = iter(engine.synthesize(engine_bench.TTS_TEXT))
    next(chunks)
    first = time.perf_counter() - started
    for _ in chunks:  # finish the stream, as the server does
        pass
    return first, time.perf_counter() - started


def tts_server_run(client: httpx.Client) -> tuple[float, float]:
    """The same through ``POST /v1/audio/speech`` with SSE: (first chunk, the done event)."""
    body = {"model": TTS_MODEL, "input": engine_bench.TTS_TEXT, "voice": "default", "stream_format": "sse"}
    started = time.perf_counter()
    first: float | None = None
    with client.stream("POST", "/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event.get("type") == "audio.chunk":
                first = first or time.perf_counter() - started
                base64.b64decode(event["audio_base64"])
    if first is None:
        raise RuntimeError("no audio chunk came back")
    return first, time.perf_counter() - started


# --- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="asr,chat,tts", help="comma-separated: asr, chat, tts")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout to serve (an A/B)")
    args = parser.parse_args(argv)
    only = {part.strip() for part in args.only.split(",")}
    audio_dir = engine_bench.DEFAULT_AUDIO_DIR
    long = engine_bench.make_context(audio_dir, args.repeat).long
    seconds = len(long) / 16_000
    print(f"repeat={args.repeat}, cpus={engine_bench.usable_cpus()}, cpu={engine_bench.cpu_model()}")

    rows: list[tuple[str, str, str, str]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp) / "data", repo=args.repo) as base_url,
        # One client for every request, as an application keeps one: a new httpx client costs tens
        # of milliseconds (its TLS context) that the direct runs do not pay either.
        httpx.Client(base_url=base_url, timeout=600) as client,
    ):
        if "asr" in only:
            engine = whisper_engine()
            audio = wav_bytes(long)
            (asr,) = alternate(
                lambda _: asr_engine_run(engine, long), lambda _: asr_server_run(client, audio), args.repeat
            )
            del engine
            library = asr_direct(long, args.repeat)
            rows.append(
                (
                    f"transcription, {seconds:.0f} s file ({ASR_MODEL})",
                    f"{asr.direct_median:.2f} s",
                    f"{asr.served_median:.2f} s",
                    f"ratio {asr.ratio:.3f} (median of pairs; target ≤ 1.05); "
                    f"faster-whisper alone, no VAD: {library:.2f} s",
                )
            )
        if "chat" in only:
            llm = direct_llm()
            rate, total = alternate(
                lambda run: chat_direct_run(llm, run), lambda run: chat_server_run(client, run), args.repeat
            )
            del llm
            rows.append(
                (
                    f"chat generation ({CHAT_MODEL})",
                    f"{rate.direct_median:.1f} tok/s",
                    f"{rate.served_median:.1f} tok/s",
                    f"ratio {rate.ratio:.3f} (median of pairs); "
                    f"request {total.direct_median:.2f} s direct, {total.served_median:.2f} s served",
                )
            )
        if "tts" in only:
            engine = piper_direct()
            first, whole = alternate(
                lambda _: tts_direct_run(engine), lambda _: tts_server_run(client), args.repeat
            )
            rows.append(
                (
                    f"speech, time to first audio chunk ({TTS_MODEL})",
                    f"{first.direct_median * 1000:.0f} ms",
                    f"{first.served_median * 1000:.0f} ms",
                    f"{first.added * 1000:+.0f} ms through the server (median of pairs)",
                )
            )
            rows.append(
                (
                    "speech, the whole synthesis (three sentences)",
                    f"{whole.direct_median * 1000:.0f} ms",
                    f"{whole.served_median * 1000:.0f} ms",
                    f"ratio {whole.ratio:.3f} (median of pairs; target ≤ 1.05)",
                )
            )
    engine_bench.print_table(("workload", "direct", "server", "comparison"), rows, (False, True, True, False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
