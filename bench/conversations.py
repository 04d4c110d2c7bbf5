"""Time to the first answer, through the conversation routes, against the same models called in
this process (the worker's own engine classes), pair by pair as ``bench/openai_overhead.py`` does:

- thread reply: a message to a new chat thread (``stream: true``) until its first ``delta``,
  against llama.cpp streaming the same prompt until its first token;
The engines load here as in a worker (``load_engine_libraries`` first), and are the defaults a
voice turn uses (Whisper-Tiny.en, the default chat model, Piper-Joe-Medium).

- voice turn: a spoken question (Piper, 2.5 s) to a new voice session (``stream: true``) until its
  first ``assistant_audio`` chunk, against the default ASR model transcribing it, the chat model streaming
  its answer until the first whole sentence, and Piper speaking that sentence.

It prints each median and the median of the pairs' differences (served - direct: what the server
adds; the issue's target is at most 100 ms at p50).

    .venv/bin/python bench/conversations.py [--repeat 5] [--only thread,voice]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from workers.engines.openmp import load_engine_libraries  # noqa: E402

load_engine_libraries()  # as a worker does, first thing: each engine keeps its own OpenMP runtime

from bench import openai_overhead as overhead  # noqa: E402
from domain.catalog import BUILTIN, find_variant  # noqa: E402
from domain.sentences import split_sentences  # noqa: E402
from domain.voice import Profile  # noqa: E402
from workers.engines.base import CompletionRequest  # noqa: E402
from workers.engines.model_files import ModelFiles  # noqa: E402

QUESTION = "What is the capital city of France?"
SYSTEM = Profile().system_prompt
THREAD_TEXT = "Explain in two sentences why the sky looks blue."
MAX_TOKENS = 60


def _load(model_id: str, engine: Any) -> Any:
    variant = find_variant(model_id)
    assert variant is not None
    path = ModelFiles(Path(tempfile.mkdtemp()) / "models").materialize(variant)
    return engine.load(path, model_id=model_id)


def engines() -> dict[str, Any]:
    from workers.engines.llm import LlamaEngine
    from workers.engines.tts_piper import PiperEngine
    from workers.engines.whisper import WhisperEngine

    def default(capability: str) -> str:
        variant = BUILTIN.default(capability)
        assert variant is not None
        return variant.id

    # The models a voice turn uses when none is named: each capability's default.
    return {
        "asr": _load(default("asr"), WhisperEngine),
        "chat": _load(default("chat"), LlamaEngine),
        "tts": _load(default("tts"), PiperEngine),
    }


def _messages(run: int, text: str, system: str) -> list[dict[str, str]]:
    # A fresh first line each run: llama.cpp reuses a cached prompt prefix otherwise.
    return [{"role": "system", "content": f"{system} (Run {run}.)"}, {"role": "user", "content": text}]


def _sse(response: httpx.Response) -> Any:
    event = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, json.loads(line[6:])


# --- thread reply -------------------------------------------------------------------------------


def thread_direct(models: dict[str, Any], run: int) -> tuple[float]:
    started = time.perf_counter()
    request = CompletionRequest(
        messages=_messages(run, THREAD_TEXT, "You are helpful."), max_tokens=MAX_TOKENS, temperature=0.0
    )
    chunks = models["chat"].complete(request)
    first = None
    for chunk in chunks:
        if chunk.text and first is None:
            first = time.perf_counter() - started
    assert first is not None
    return (first,)


def thread_served(client: httpx.Client, run: int) -> tuple[float]:
    thread = client.post("/v1/chat/threads", json={"system_prompt": f"You are helpful. (Run {run}.)"}).json()
    body = {"content": THREAD_TEXT, "stream": True, "temperature": 0, "max_tokens": MAX_TOKENS}
    started = time.perf_counter()
    first = None
    with client.stream("POST", f"/v1/chat/threads/{thread['id']}/messages", json=body) as response:
        response.raise_for_status()
        for event, _data in _sse(response):
            if event == "delta" and first is None:
                first = time.perf_counter() - started
    assert first is not None, "no delta came back"
    return (first,)


# --- voice turn ---------------------------------------------------------------------------------


def voice_direct(models: dict[str, Any], audio: Any, run: int) -> tuple[float]:
    started = time.perf_counter()
    _info, segments = models["asr"].transcribe(audio, language="en")
    heard = " ".join(s.text.strip() for s in segments).strip()
    request = CompletionRequest(
        messages=_messages(run, heard, SYSTEM), max_tokens=MAX_TOKENS, temperature=0.0
    )
    text = ""
    sentence = None
    chunks = models["chat"].complete(request)
    for chunk in chunks:
        text += chunk.text
        sentences = split_sentences(text)
        if len(sentences) > 1:
            sentence = sentences[0]
            break
    close = getattr(chunks, "close", None)
    if callable(close):
        close()
    spoken = iter(models["tts"].synthesize(sentence or text))
    next(spoken)
    first = time.perf_counter() - started
    for _ in spoken:
        pass
    return (first,)


def voice_served(client: httpx.Client, question: bytes, run: int) -> tuple[float]:
    session = client.post("/v1/voice/sessions", json={"system_prompt": f"{SYSTEM} (Run {run}.)"}).json()
    body = {"audio_base64": base64.b64encode(question).decode(), "stream": True, "temperature": 0}
    body["max_tokens"] = MAX_TOKENS
    started = time.perf_counter()
    first = None
    with client.stream("POST", f"/v1/voice/sessions/{session['id']}/turns", json=body) as response:
        response.raise_for_status()
        for event, _data in _sse(response):
            if event == "assistant_audio" and first is None:
                first = time.perf_counter() - started
    assert first is not None, "no audio chunk came back"
    return (first,)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="thread,voice")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    models = engines()
    from workers.engines.audio import decode_audio, encode_audio

    spoken = next(iter(models["tts"].synthesize(QUESTION)))
    question = encode_audio(spoken.samples, spoken.sample_rate, "wav")
    with tempfile.TemporaryDirectory() as tmp:
        question_path = Path(tmp) / "question.wav"
        question_path.write_bytes(question)
        heard_audio = decode_audio(question_path, 16_000)
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        with (
            overhead.running_server(data_dir) as base_url,
            httpx.Client(base_url=base_url, timeout=120) as client,
        ):
            rows = []
            if "thread" in only:
                (paired,) = overhead.alternate(
                    lambda run: thread_direct(models, run),
                    lambda run: thread_served(client, run),
                    args.repeat,
                )
                rows.append(("thread reply, first token", paired))
            if "voice" in only:
                (paired,) = overhead.alternate(
                    lambda run: voice_direct(models, heard_audio, run),
                    lambda run: voice_served(client, question, run),
                    args.repeat,
                )
                rows.append(("voice turn, first audio chunk", paired))
    for name, paired in rows:
        direct, served, added = (1000 * x for x in (paired.direct_median, paired.served_median, paired.added))
        print(
            f"{name}: direct {direct:.0f} ms, served {served:.0f} ms, "
            f"added {added:+.0f} ms (median of {len(paired.direct)} pairs)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
