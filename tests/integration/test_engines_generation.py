"""Generation engines on real bundled models: Piper and espeak-ng speech (checked by ear with
Whisper), F5-TTS's missing-extra error, llama.cpp chat (Qwen2.5-Coder 0.5B and SmolLM2 135M)
and sentence embeddings (all-MiniLM-L6-v2). Each model is loaded once per module."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soxr

from domain.catalog import find_variant
from domain.sentences import split_sentences
from tests.wer import word_error_rate
from workers.engines.base import Audio, AudioChunk, CapabilityError, CompletionChunk, CompletionRequest
from workers.engines.llm import LlamaEngine
from workers.engines.model_files import ModelFiles
from workers.engines.text_embedding import SentenceEmbedder
from workers.engines.tts_espeak import EspeakEngine
from workers.engines.tts_f5 import F5TtsEngine
from workers.engines.tts_piper import PiperEngine

QWEN = "Qwen2.5-Coder-0.5B-Instruct-GGUF"
SMOLLM2 = "SmolLM2-135M-Instruct-GGUF"
PIPER = "Piper-Joe-Medium"
SILENCE_RMS = 0.01

TWO_SENTENCES = (
    "The quick brown fox jumps over the lazy dog. "
    "Please bring the blue folder to the meeting room after lunch."
)


# --- helpers ---------------------------------------------------------------------------------


def rms(samples: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0


def joined(chunks: list[AudioChunk]) -> Audio:
    return np.concatenate([chunk.samples for chunk in chunks]).astype(np.float32)


def seconds(chunks: list[AudioChunk]) -> float:
    return sum(chunk.samples.size / chunk.sample_rate for chunk in chunks)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> ModelFiles:
    """Bundled variants assembled once per test session."""
    return ModelFiles(tmp_path_factory.mktemp("models"))


def materialize(files: ModelFiles, model_id: str) -> Path:
    variant = find_variant(model_id)
    assert variant is not None, f"{model_id} is not in the catalog"
    return files.materialize(variant)


@pytest.fixture(scope="module")
def piper(model_files: ModelFiles) -> Iterator[PiperEngine]:
    engine = PiperEngine.load(materialize(model_files, PIPER), model_id=PIPER)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def whisper(model_files: ModelFiles) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(
        str(materialize(model_files, "Whisper-Tiny.en")), device="cpu", compute_type="int8", cpu_threads=2
    )


def transcribe(whisper: Any, chunks: list[AudioChunk]) -> str:
    audio = joined(chunks)
    resampled = soxr.resample(audio, chunks[0].sample_rate, 16_000).astype(np.float32)
    segments, _info = whisper.transcribe(resampled, language="en", beam_size=1)
    return " ".join(segment.text for segment in segments).strip()


@pytest.fixture(scope="module")
def espeak() -> Iterator[EspeakEngine]:
    engine = EspeakEngine.load(model_id="espeak-ng")
    yield engine
    engine.close()


@pytest.fixture(scope="module", params=[QWEN, SMOLLM2])
def chat_model(request: pytest.FixtureRequest, model_files: ModelFiles) -> Iterator[LlamaEngine]:
    model_id: str = request.param
    path = materialize(model_files, model_id)
    engine = LlamaEngine.load(path, model_id=model_id)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def embedder(model_files: ModelFiles) -> Iterator[SentenceEmbedder]:
    path = materialize(model_files, "all-MiniLM-L6-v2")
    engine = SentenceEmbedder.load(path, model_id="all-MiniLM-L6-v2")
    yield engine
    engine.close()


# --- sentence splitting ----------------------------------------------------------------------


def test_split_sentences_keeps_punctuation_and_abbreviations() -> None:
    text = "Dr. Smith arrived at 3.30 p.m. today! Did he? Yes.\n\nNew paragraph without a stop"
    assert split_sentences(text) == [
        "Dr. Smith arrived at 3.30 p.m. today!",
        "Did he?",
        "Yes.",
        "New paragraph without a stop",
    ]
    assert split_sentences("  ") == []
    assert split_sentences("你好。世界\uff01") == ["你好。", "世界\uff01"]


# --- Piper -----------------------------------------------------------------------------------


def test_piper_streams_one_chunk_per_sentence(piper: PiperEngine) -> None:
    started = time.perf_counter()
    chunks = list(piper.synthesize(TWO_SENTENCES))
    elapsed = time.perf_counter() - started

    assert piper.sample_rate == 22_050
    assert piper.voices() == ["default"]
    assert [chunk.text for chunk in chunks] == split_sentences(TWO_SENTENCES)
    for chunk in chunks:
        assert chunk.sample_rate == 22_050
        assert chunk.samples.dtype == np.float32 and chunk.samples.ndim == 1
        assert float(np.max(np.abs(chunk.samples))) <= 1.0
        assert rms(chunk.samples) > SILENCE_RMS
    duration = seconds(chunks)
    assert 3.0 < duration < 15.0, duration
    assert elapsed < duration * 2, f"real-time factor {elapsed / duration:.2f}"


def test_piper_speech_is_understood_by_whisper(piper: PiperEngine, whisper: Any) -> None:
    heard = transcribe(whisper, list(piper.synthesize(TWO_SENTENCES)))
    assert word_error_rate(TWO_SENTENCES, heard) <= 0.2, heard


def test_piper_speed_shortens_speech(piper: PiperEngine) -> None:
    text = "Speaking faster should take noticeably less time than speaking normally."
    normal = seconds(list(piper.synthesize(text, speed=1.0)))
    fast = seconds(list(piper.synthesize(text, speed=1.5)))
    assert fast < normal * 0.85, (fast, normal)


def test_piper_rejects_voices_and_languages_it_lacks(piper: PiperEngine) -> None:
    with pytest.raises(CapabilityError, match=PIPER):
        piper.synthesize("Hello.", voice="nobody")
    with pytest.raises(CapabilityError, match="language"):
        piper.synthesize("Bonjour.", language="fr")
    with pytest.raises(ValueError):
        piper.synthesize("Hello.", speed=0)
    assert list(piper.synthesize("Hello there.", voice="default", language="en"))


# --- espeak-ng -------------------------------------------------------------------------------


def test_espeak_speaks_english(espeak: EspeakEngine, whisper: Any) -> None:
    text = "Good morning. The weather is sunny today."
    chunks = list(espeak.synthesize(text, voice="en-us"))
    assert espeak.sample_rate == 22_050
    assert [chunk.text for chunk in chunks] == ["Good morning.", "The weather is sunny today."]
    for chunk in chunks:
        assert chunk.sample_rate == espeak.sample_rate
        assert chunk.samples.dtype == np.float32
        assert rms(chunk.samples) > SILENCE_RMS
    assert 1.5 < seconds(chunks) < 8.0
    heard = transcribe(whisper, chunks)
    assert word_error_rate(text, heard) <= 0.5, heard


@pytest.mark.parametrize(
    ("language", "text"),
    [("fr", "Bonjour tout le monde."), ("de", "Guten Tag, wie geht es dir?"), ("sw", "Habari ya asubuhi.")],
)
def test_espeak_speaks_other_languages(espeak: EspeakEngine, language: str, text: str) -> None:
    chunks = list(espeak.synthesize(text, language=language))
    assert len(chunks) == 1
    assert rms(chunks[0].samples) > SILENCE_RMS


def test_espeak_voices_speed_and_unknown_voice(espeak: EspeakEngine) -> None:
    voices = espeak.voices()
    assert {"en", "en-us", "fr", "de", "sw"} <= set(voices)
    text = "This sentence is spoken at two different speeds."
    normal = seconds(list(espeak.synthesize(text, speed=1.0)))
    fast = seconds(list(espeak.synthesize(text, speed=2.0)))
    assert fast < normal * 0.75, (fast, normal)
    with pytest.raises(CapabilityError, match="espeak-ng"):
        espeak.synthesize("Hello.", voice="zz-not-a-language")


# --- F5-TTS ----------------------------------------------------------------------------------


def test_f5_without_its_extra_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(CapabilityError, match="reference-voice cloning") as raised:
        F5TtsEngine.load(tmp_path, model_id="F5-TTS")
    message = str(raised.value)
    assert "F5-TTS" in message and "pip install 'sauti[f5]'" in message and str(tmp_path) in message


def test_f5_without_its_weights_lists_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import workers.engines.tts_f5 as tts_f5

    monkeypatch.setattr(tts_f5, "f5_installed", lambda: True)
    (tmp_path / "vocab.txt").write_text("a\n")
    with pytest.raises(CapabilityError) as raised:
        F5TtsEngine.load(tmp_path, model_id="F5-TTS")
    message = str(raised.value)
    assert "checkpoint" in message and "vocos/config.yaml" in message and "vocab.txt" not in message


# --- chat models -----------------------------------------------------------------------------


def complete(model: LlamaEngine, prompt: str, **options: object) -> list[CompletionChunk]:
    request = CompletionRequest(
        messages=[{"role": "user", "content": prompt}],
        temperature=0.0,
        **options,  # type: ignore[arg-type]
    )
    return list(model.complete(request))


def test_chat_streams_text_then_finish_and_usage(chat_model: LlamaEngine) -> None:
    chunks = complete(chat_model, "Name three colours of the rainbow.", max_tokens=16)
    texts = [chunk.text for chunk in chunks[:-1]]
    assert len(texts) >= 2 and all(texts)
    last = chunks[-1]
    assert last.text == "" and last.finish_reason in {"stop", "length"}
    assert last.prompt_tokens is not None and last.prompt_tokens > 5
    assert last.completion_tokens is not None and 1 <= last.completion_tokens <= 16
    assert all(chunk.finish_reason is None for chunk in chunks[:-1])


def test_chat_stops_for_length(chat_model: LlamaEngine) -> None:
    chunks = complete(chat_model, "Write a long story about a dragon.", max_tokens=5)
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].completion_tokens == 5
    assert "".join(chunk.text for chunk in chunks)


def test_chat_grammar_forces_a_tool_call(chat_model: LlamaEngine) -> None:
    grammar = r"""
root ::= "{" ws "\"name\":" ws "\"get_weather\"" ws "," ws "\"arguments\":" ws arguments ws "}"
arguments ::= "{" ws "\"city\":" ws city ws "}"
city ::= "\"" [A-Za-z] [A-Za-z ]{0,23} "\""
ws ::= [ ]?
"""
    chunks = complete(
        chat_model, "What is the weather like in Paris? Call get_weather.", max_tokens=48, grammar=grammar
    )
    call = json.loads("".join(chunk.text for chunk in chunks))
    assert call["name"] == "get_weather"
    assert isinstance(call["arguments"]["city"], str) and call["arguments"]["city"].strip()
    assert chunks[-1].finish_reason == "stop"


def test_chat_rejects_images(chat_model: LlamaEngine) -> None:
    request = CompletionRequest(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            }
        ]
    )
    with pytest.raises(CapabilityError, match="image input") as raised:
        chat_model.complete(request)
    assert chat_model.model_id in str(raised.value)


def test_chat_refuses_a_second_open_stream_in_one_thread(chat_model: LlamaEngine) -> None:
    request = CompletionRequest(messages=[{"role": "user", "content": "Say hello."}], max_tokens=3)
    first = chat_model.complete(request)
    assert next(first).text
    with pytest.raises(RuntimeError, match="still open"):
        next(chat_model.complete(request))
    first.close()  # an abandoned stream releases the model
    assert list(chat_model.complete(request))[-1].finish_reason in {"stop", "length"}


def test_chat_counts_tokens(chat_model: LlamaEngine) -> None:
    assert chat_model.count_tokens("") == 0
    assert 1 <= chat_model.count_tokens("Hello world") <= 4
    text_parts = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "world"}]
    assert chat_model.count_prompt_tokens([{"role": "user", "content": text_parts}]) == (
        chat_model.count_prompt_tokens([{"role": "user", "content": "Hello world"}])
    )


# --- text embeddings -------------------------------------------------------------------------


def test_embeddings_rank_the_relevant_sentence_first(embedder: SentenceEmbedder) -> None:
    query = "How do I reset my password?"
    documents = [
        "The train to Mombasa leaves at noon.",
        "Click 'forgot password' on the login page to reset it.",
        "Bananas are rich in potassium.",
        "The orchestra tuned their instruments before the concert.",
    ]
    vectors = embedder.embed([query, *documents])
    assert vectors.dtype == np.float32 and vectors.shape == (5, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    scores = vectors[1:] @ vectors[0]
    assert int(np.argmax(scores)) == 1, scores
    assert embedder.embed([]).shape == (0, 384)
