"""The server tools an agent turn may call (``domain.agents.SERVER_TOOLS``), each a real capability
of Sauti: semantic search over the user's transcripts with the bundled text-embedding model, a
recording's transcript, the list of recordings, speech synthesis into a media object, the time.

A tool's failure (bad arguments, an unknown record) is its result, given back to the model; a call
never fails the turn."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.agents import CURRENT_TIME, GET_TRANSCRIPT, LIST_RECORDINGS, SEARCH_RECORDINGS, SYNTHESIZE_SPEECH
from domain.speech import SpeechParams
from workers import runtime
from workers.engines.audio import encode_audio
from workers.engines.base import TextEmbedder
from workers.media_objects import publish
from workers.speech_jobs import Synthesis, speech_engine
from workflows.agents import Recording, Recordings, passages_of, segments_between
from workflows.jobs import JobInputError

SEARCH_RESULTS = 5
TRANSCRIPT_CHARS = 4000
MAX_SPEECH_CHARS = 2000
CACHED_RECORDINGS = 512


class ToolFailed(Exception):
    """What the model is told instead of a result."""


@dataclass(frozen=True)
class ToolContext:
    recordings: Recordings
    media_prefix: str
    """Where synthesized speech is stored (``agent/<session id>``)."""
    call_id: str


class PassageIndex:
    """Each recording's passages and their embeddings, computed once per version of its transcript."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: OrderedDict[tuple[str, int], tuple[list[tuple[float, float, str]], Any]] = OrderedDict()

    def passages(
        self, embedder: TextEmbedder, recording: Recording
    ) -> tuple[list[tuple[float, float, str]], npt.NDArray[np.float32]]:
        key = (recording.id, recording.version)
        with self._lock:
            found = self._cached.get(key)
            if found is not None:
                self._cached.move_to_end(key)
                return found
        passages = passages_of(recording)
        vectors = embedder.embed([f"{recording.title}: {text}" for _, _, text in passages])
        with self._lock:
            self._cached[key] = (passages, vectors)
            while len(self._cached) > CACHED_RECORDINGS:
                self._cached.popitem(last=False)
        return passages, vectors


INDEX = PassageIndex()


def _embedder() -> TextEmbedder:
    variant = runtime.current().catalog.default("text_embedding")
    if variant is None:
        raise ToolFailed("This server has no text-embedding model to search with.")
    engine: TextEmbedder = runtime.engines().get(variant)
    return engine


def _text(arguments: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = arguments.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ToolFailed(f"`{name}` must be a non-empty string.")
    return value.strip()


def _number(arguments: Mapping[str, Any], name: str) -> float | None:
    value = arguments.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolFailed(f"`{name}` must be a number of seconds.")
    return float(value)


def search_recordings(arguments: Mapping[str, Any], context: ToolContext) -> Any:
    query = _text(arguments, "query")
    assert query is not None
    embedder = _embedder()
    hits: list[dict[str, Any]] = []
    for recording in context.recordings.transcribed():
        passages, vectors = INDEX.passages(embedder, recording)
        if not passages:
            continue
        scores = vectors @ embedder.embed([query])[0]
        for (start, end, text), score in zip(passages, scores, strict=True):
            hits.append(
                {
                    "record_id": recording.id,
                    "title": recording.title,
                    "start": round(start, 2),
                    "end": round(end, 2),
                    "text": text,
                    "score": round(float(score), 4),
                }
            )
    hits.sort(key=lambda hit: hit["score"], reverse=True)
    return {"query": query, "results": hits[:SEARCH_RESULTS]}


def get_transcript(arguments: Mapping[str, Any], context: ToolContext) -> Any:
    record_id = _text(arguments, "record_id")
    assert record_id is not None
    recording = context.recordings.find(record_id)
    if recording is None:
        raise ToolFailed(f"There is no ready recording {record_id!r}: list_recordings names them.")
    start, end = _number(arguments, "start"), _number(arguments, "end")
    text = " ".join(s.text.strip() for s in segments_between(recording, start, end)).strip()
    return {
        "record_id": recording.id,
        "title": recording.title,
        "start": start,
        "end": end,
        "text": text[:TRANSCRIPT_CHARS],
        "truncated": len(text) > TRANSCRIPT_CHARS,
    }


def list_recordings(arguments: Mapping[str, Any], context: ToolContext) -> Any:
    limit = arguments.get("limit", 10)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 50:
        raise ToolFailed("`limit` must be an integer from 1 to 50.")
    return {
        "recordings": [
            {
                "record_id": r.id,
                "title": r.title,
                "duration_secs": r.duration,
                "created_at": datetime.fromtimestamp(r.created_at, UTC).isoformat(timespec="seconds"),
            }
            for r in context.recordings.listed(limit)
        ]
    }


def synthesize_speech(arguments: Mapping[str, Any], context: ToolContext) -> Any:
    text = _text(arguments, "text")
    assert text is not None
    if len(text) > MAX_SPEECH_CHARS:
        raise ToolFailed(f"`text` must be at most {MAX_SPEECH_CHARS} characters.")
    variant = runtime.current().catalog.default("tts")
    if variant is None:
        raise ToolFailed("This server has no text-to-speech model.")
    try:  # the model's own voice: a voice to choose from would only be guessed at
        synthesis = Synthesis(speech_engine(variant), variant, SpeechParams(model=variant.id, input=text))
        synthesis.check()
        samples, rate = synthesis.speak(text)
    except JobInputError as error:
        raise ToolFailed(str(error)) from error
    _digest, url = publish(
        f"{context.media_prefix}/{context.call_id}.wav", encode_audio(samples, rate, "wav"), "audio/wav"
    )
    return {"audio_url": url, "duration_secs": round(samples.size / rate, 2)}


def current_time(arguments: Mapping[str, Any], context: ToolContext) -> Any:
    now = datetime.now(UTC)
    return {"utc": now.isoformat(timespec="seconds"), "weekday": now.strftime("%A")}


SERVER_TOOL_FUNCTIONS: dict[str, Callable[[Mapping[str, Any], ToolContext], Any]] = {
    SEARCH_RECORDINGS: search_recordings,
    GET_TRANSCRIPT: get_transcript,
    LIST_RECORDINGS: list_recordings,
    SYNTHESIZE_SPEECH: synthesize_speech,
    CURRENT_TIME: current_time,
}
