"""What the server adds on top of the engines, through the OpenAI-compatible routes.

Each workload runs twice: directly on the library (faster-whisper, llama-cpp-python, Piper) in
this process, then through a real ``sauti serve`` (its own data directory, one worker process),
one after the other so that neither competes with the other for the CPU:

- transcription: the same ~59 s file (jfk.flac five times, 1 s of silence between copies),
  Whisper-Tiny.en, language en, beam 5; the ratio server time / direct time (target ≤ 1.10);
- chat: generation tokens/s of the default chat model, streamed, temperature 0, 128 tokens; the
  direct and served generations alternate (one pair after another, while the server is up), so
  that both see the same load on a shared machine, and the ratio is the median of the pairs';
- speech: time to the first audio chunk (SSE) for three sentences with Piper-Joe-Medium.

Each figure is the median of ``--repeat`` runs after one warm-up (the model load is not timed).
The server's figure includes everything a client pays: upload, the request event and the broker
message, decoding in the worker, the result events, and the response.

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


def asr_direct(samples: np.ndarray, repeat: int) -> float:
    from faster_whisper import WhisperModel

    from workers.engines.whisper import default_cpu_threads

    variant = find_variant(ASR_MODEL)
    assert variant is not None
    path = ModelFiles(Path(tempfile.mkdtemp()) / "models").materialize(variant)
    model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=default_cpu_threads())

    def run() -> float:
        started = time.perf_counter()
        segments, _ = model.transcribe(samples, language="en", beam_size=5)
        list(segments)
        return time.perf_counter() - started

    return median_of(run, repeat)


def asr_server(base_url: str, audio: bytes, repeat: int) -> float:
    def run() -> float:
        started = time.perf_counter()
        response = httpx.post(
            f"{base_url}/v1/audio/transcriptions",
            files={"file": ("long.wav", audio, "audio/wav")},
            data={"model": ASR_MODEL, "language": "en", "response_format": "json"},
            timeout=600,
        )
        response.raise_for_status()
        return time.perf_counter() - started

    return median_of(run, repeat)


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


def chat_server_run(base_url: str, run: int) -> tuple[float, float]:
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
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, timeout=600) as response:
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
class ChatFigures:
    direct_rate: float
    served_rate: float
    ratio: float
    """The median of each pair's served / direct rate."""
    direct_total: float
    served_total: float


def chat_pairs(base_url: str, repeat: int) -> ChatFigures:
    """Direct and served generations one after the other, pair by pair (after one warm-up pair),
    so that both see the same load on a shared machine."""
    llm = direct_llm()
    rates: list[tuple[float, float]] = []
    totals: list[tuple[float, float]] = []
    for run in range(max(1, repeat) + 1):
        direct = chat_direct_run(llm, run)
        served = chat_server_run(base_url, run)
        if run > 0:  # run 0 warms up
            rates.append((direct[0], served[0]))
            totals.append((direct[1], served[1]))
    del llm
    return ChatFigures(
        direct_rate=statistics.median(d for d, _ in rates),
        served_rate=statistics.median(s for _, s in rates),
        ratio=statistics.median(s / d for d, s in rates),
        direct_total=statistics.median(d for d, _ in totals),
        served_total=statistics.median(s for _, s in totals),
    )


# --- speech ---------------------------------------------------------------------------------------


def tts_direct(repeat: int) -> float:
    from workers.engines.tts_piper import PiperEngine

    variant = find_variant(TTS_MODEL)
    assert variant is not None
    path = ModelFiles(Path(tempfile.mkdtemp()) / "models").materialize(variant)
    engine = PiperEngine.load(path, model_id=TTS_MODEL)

    def run() -> float:
        started = time.perf_counter()
        chunks = engine.synthesize(engine_bench.TTS_TEXT)
        next(iter(chunks))
        elapsed = time.perf_counter() - started
        for _ in chunks:  # finish the stream, as the server does
            pass
        return elapsed

    return median_of(run, repeat)


def tts_server(base_url: str, repeat: int) -> float:
    def run() -> float:
        body = {
            "model": TTS_MODEL,
            "input": engine_bench.TTS_TEXT,
            "voice": "default",
            "stream_format": "sse",
        }
        started = time.perf_counter()
        first: float | None = None
        with httpx.stream("POST", f"{base_url}/v1/audio/speech", json=body, timeout=600) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                if event.get("type") == "audio.chunk" and first is None:
                    first = time.perf_counter() - started
                    base64.b64decode(event["audio_base64"])
        if first is None:
            raise RuntimeError("no audio chunk came back")
        return first

    return median_of(run, repeat)


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

    direct: dict[str, Any] = {}
    if "asr" in only:
        direct["asr"] = asr_direct(long, args.repeat)
    if "tts" in only:
        direct["tts"] = tts_direct(args.repeat)

    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp) / "data", repo=args.repo) as base_url:
        if "asr" in only:
            served = asr_server(base_url, wav_bytes(long), args.repeat)
            rows.append(
                (
                    f"transcription, {seconds:.0f} s file ({ASR_MODEL})",
                    f"{direct['asr']:.2f} s",
                    f"{served:.2f} s",
                    f"ratio {served / direct['asr']:.3f} (target ≤ 1.10)",
                )
            )
        if "chat" in only:
            chat = chat_pairs(base_url, args.repeat)
            rows.append(
                (
                    f"chat generation ({CHAT_MODEL})",
                    f"{chat.direct_rate:.1f} tok/s",
                    f"{chat.served_rate:.1f} tok/s",
                    f"ratio {chat.ratio:.3f} (median of pairs); "
                    f"request {chat.direct_total:.2f} s direct, {chat.served_total:.2f} s served",
                )
            )
        if "tts" in only:
            served = tts_server(base_url, args.repeat)
            rows.append(
                (
                    f"speech, time to first audio chunk ({TTS_MODEL})",
                    f"{direct['tts'] * 1000:.0f} ms",
                    f"{served * 1000:.0f} ms",
                    f"+{(served - direct['tts']) * 1000:.0f} ms through the server",
                )
            )
    engine_bench.print_table(("workload", "direct", "server", "comparison"), rows, (False, True, True, False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
