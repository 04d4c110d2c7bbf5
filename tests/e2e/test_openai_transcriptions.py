"""``/v1/audio/transcriptions`` and ``/v1/audio/align`` on a real ``sauti serve``: through the
official ``openai`` client, raw HTTP for the extensions and errors, and the job's audit trail.

Tests that need several segments send ``tests.recordings.two_sentences`` (several segments on any
CPU); jfk.flac is one segment or two depending on the CPU."""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
import srt
import webvtt

from tests.conftest import JFK, JFK_TEXT
from tests.e2e.conftest import SautiServer, iter_sse
from tests.recordings import TWO_SENTENCES_SECONDS, TWO_SENTENCES_TEXT, encoded, two_sentences
from tests.wer import word_error_rate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

MAX_WER = 0.15
SLOW = httpx.Timeout(10.0, read=120.0)


@pytest.fixture(scope="module")
def client(sauti_server: SautiServer) -> Iterator[openai.OpenAI]:
    with sauti_server.openai_client(timeout=120.0) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def two_sentences_file() -> tuple[str, bytes, str]:
    return ("two_sentences.wav", encoded(two_sentences()), "audio/wav")


def transcribe(api: httpx.Client, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
    """A multipart request with JFK as ``file`` unless ``files`` says otherwise."""
    files = kwargs.pop("files", {"file": ("jfk.flac", JFK.read_bytes(), "audio/flac")})
    return api.post("/v1/audio/transcriptions", data=data, files=files, timeout=SLOW, **kwargs)


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == str(status) and error["message"]
    if param is not None:
        assert error["param"] == param


# --- the official client ----------------------------------------------------------------


def test_json_transcript(client: openai.OpenAI) -> None:
    with JFK.open("rb") as audio:
        result = client.audio.transcriptions.create(model="Whisper-Tiny.en", file=audio)
    assert word_error_rate(JFK_TEXT, result.text) < MAX_WER


def test_verbose_json_with_word_and_segment_timestamps(
    client: openai.OpenAI, two_sentences_file: tuple[str, bytes, str]
) -> None:
    result = client.audio.transcriptions.create(
        model="Whisper-Tiny.en",
        file=two_sentences_file,
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert word_error_rate(TWO_SENTENCES_TEXT, result.text) < MAX_WER
    assert result.language == "en" and result.duration == pytest.approx(TWO_SENTENCES_SECONDS, abs=0.05)
    assert result.segments and len(result.segments) >= 2
    assert [s.id for s in result.segments] == list(range(len(result.segments)))
    assert " ".join(s.text for s in result.segments) == result.text
    assert result.words and len(result.words) == len(result.text.split())
    previous_end = 0.0
    for word in result.words:
        assert previous_end - 1e-6 <= word.start <= word.end <= result.duration
        previous_end = word.end
    body = result.to_dict()
    assert body["processing_time_ms"] > 0 and body["rtf"] > 0
    diagnostics = body["sauti_asr_diagnostics"]
    assert diagnostics["model_family"] == "whisper" and diagnostics["engine"] == "whisper"
    execution = diagnostics["execution"]
    assert execution["device_kind"] == "CPU" and execution["cpu_threads"] >= 1
    assert execution["attempt"] == 1 and execution["worker_id"]


def test_srt_and_vtt(client: openai.OpenAI, two_sentences_file: tuple[str, bytes, str]) -> None:
    subrip = client.audio.transcriptions.create(
        model="Whisper-Tiny.en", file=two_sentences_file, response_format="srt"
    )
    vtt = client.audio.transcriptions.create(
        model="Whisper-Tiny.en", file=two_sentences_file, response_format="vtt"
    )
    cues = list(srt.parse(subrip))
    assert len(cues) >= 2 and [c.index for c in cues] == list(range(1, len(cues) + 1))
    assert word_error_rate(TWO_SENTENCES_TEXT, " ".join(c.content for c in cues)) < MAX_WER
    assert all(c.start <= c.end for c in cues) and cues[-1].end.total_seconds() <= TWO_SENTENCES_SECONDS
    captions = webvtt.from_string(vtt).captions
    assert [c.text for c in captions] == [c.content for c in cues]
    assert captions[-1].end_in_seconds <= TWO_SENTENCES_SECONDS


def test_streaming_deltas_then_done(
    client: openai.OpenAI, two_sentences_file: tuple[str, bytes, str]
) -> None:
    stream = client.audio.transcriptions.create(model="Whisper-Tiny.en", file=two_sentences_file, stream=True)
    events = list(stream)
    types = [event.type for event in events]
    assert types[-1] == "transcript.text.done" and types.count("transcript.text.done") == 1
    deltas = [event.delta for event in events if event.type == "transcript.text.delta"]
    assert len(deltas) >= 2 and len(deltas) == len(types) - 1
    done = events[-1].to_dict()
    assert "".join(deltas) == done["text"]
    assert word_error_rate(TWO_SENTENCES_TEXT, done["text"]) < MAX_WER
    assert done["language"] == "en"
    assert done["audio_duration_secs"] == pytest.approx(TWO_SENTENCES_SECONDS, abs=0.05)


def test_a_failed_stream_ends_with_an_error_event(api: httpx.Client) -> None:
    garbage = {"file": ("noise.wav", b"RIFF\x00\x00 not really audio", "audio/wav")}
    with api.stream(
        "POST", "/v1/audio/transcriptions", data={"stream": "on"}, files=garbage, timeout=SLOW
    ) as response:
        assert response.status_code == 200
        frames = [frame.json() for frame in iter_sse(response) if frame.data]
    assert len(frames) == 1 and frames[0]["type"] == "error"
    assert "could not decode the audio" in frames[0]["error"]["message"]


# --- raw HTTP ---------------------------------------------------------------------------


def test_json_body_with_base64_audio_as_text(api: httpx.Client) -> None:
    body = {
        "audio_base64": base64.b64encode(JFK.read_bytes()).decode(),
        "response_format": "text",
        "language": "English",
    }
    response = api.post("/v1/audio/transcriptions", json=body, timeout=SLOW)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert word_error_rate(JFK_TEXT, response.text) < MAX_WER


def test_audio_part_with_a_forced_aligner_and_the_audit_trail(api: httpx.Client) -> None:
    request_id = f"e2e-align-{uuid.uuid4().hex[:8]}"
    response = transcribe(
        api,
        {
            "response_format": "verbose_json",
            "timestamp_granularities[]": "word",
            "aligner_model": "PocketSphinx-en-us",
        },
        files={"audio": ("jfk.flac", JFK.read_bytes(), "audio/flac")},
        headers={"x-request-id": request_id},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "segments" not in body  # only words were asked for
    assert [w["word"] for w in body["words"]] == body["text"].split()
    assert body["sauti_asr_diagnostics"]["word_timestamps"]["sources"] == ["forced_alignment"]
    assert body["words"][0]["start"] == pytest.approx(0.3, abs=0.25)
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in itertools.pairwise(body["words"]))

    # The request is a job stream, found by its request id and read back event by event.
    requested = api.get(
        "/v1/events", params={"category": "transcription", "type": "transcription.requested", "limit": 500}
    ).json()["records"]
    ours = [e for e in requested if e["metadata"].get("request_id") == request_id]
    assert len(ours) == 1
    stream_id = ours[0]["stream_id"]
    assert stream_id.startswith("transcription-")
    params = ours[0]["data"]["params"]
    assert (
        len(params["audio"]) == 64 and params["aligner_model"] == "PocketSphinx-en-us"
    )  # a digest, no audio
    events = api.get("/v1/events", params={"stream": stream_id, "limit": 500}).json()["records"]
    types = [e["type"] for e in events]
    assert types[:4] == [
        "transcription.requested",
        "transcription.queued",
        "transcription.started",
        "transcription.language_detected",
    ]
    assert types[-1] == "transcription.completed" and "transcription.segment_transcribed" in types
    segments = [e["data"] for e in events if e["type"] == "transcription.segment_transcribed"]
    assert " ".join(segment["text"] for segment in segments) == body["text"]
    assert [w["word"] for s in segments for w in s["words"]] == [w["word"] for w in body["words"]]


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"model": "No-Such-Model"}, "model"),
        ({"model": "PocketSphinx-en-us"}, "model"),  # cannot transcribe
        ({"aligner_model": "Whisper-Tiny.en", "response_format": "verbose_json"}, "aligner_model"),
        ({"timestamp_granularities[]": "word"}, "timestamp_granularities[]"),  # needs verbose_json
        (
            {"response_format": "verbose_json", "timestamp_granularities[]": "sentence"},
            "timestamp_granularities[]",
        ),
        ({"response_format": "docx"}, "response_format"),
        ({"stream": "maybe"}, "stream"),
    ],
)
def test_invalid_options_are_400(api: httpx.Client, data: dict[str, str], param: str) -> None:
    assert_error(transcribe(api, data), 400, param)


def test_missing_undecodable_and_wrongly_typed_audio(api: httpx.Client) -> None:
    assert_error(
        transcribe(api, {"model": "Whisper-Tiny.en"}, files={"x": ("x", b"", "text/plain")}), 400, "file"
    )
    garbage = {"file": ("noise.wav", b"RIFF\x00\x00 not really audio", "audio/wav")}
    assert_error(transcribe(api, {}, files=garbage), 400, "file")
    plain = api.post("/v1/audio/transcriptions", content=b"hello", headers={"content-type": "text/plain"})
    assert_error(plain, 415)


def test_uploads_over_the_configured_limit_are_413(server_factory: Callable[..., SautiServer]) -> None:
    server = server_factory(env={"SAUTI_OPENAI_AUDIO_UPLOAD_LIMIT_MB": "2"})  # JFK is 1.1 MB
    with server.client() as small:
        big = {"file": ("big.wav", b"\x00" * (2 * 1024 * 1024 + 1), "audio/wav")}
        assert_error(small.post("/v1/audio/transcriptions", files=big), 413)
        assert_error(small.post("/v1/audio/align", files=big, data={"text": "hello"}), 413)
        # Under the limit the same server transcribes.
        response = small.post("/v1/audio/transcriptions", files={"file": JFK.open("rb")}, timeout=SLOW)
        assert response.status_code == 200, response.text


# --- /v1/audio/align --------------------------------------------------------------------


def align(api: httpx.Client, data: dict[str, str]) -> httpx.Response:
    files = {"file": ("jfk.flac", JFK.read_bytes(), "audio/flac")}
    return api.post("/v1/audio/align", data=data, files=files, timeout=SLOW)


def test_align_json_verbose_and_text(api: httpx.Client) -> None:
    plain = align(api, {"text": JFK_TEXT})
    assert plain.status_code == 200, plain.text
    body = plain.json()
    assert set(body) == {"alignments", "duration"}
    assert [a["word"] for a in body["alignments"]] == JFK_TEXT.split()
    assert body["duration"] == pytest.approx(11.0, abs=0.05)
    assert body["alignments"][0]["start"] == pytest.approx(0.3, abs=0.25)

    encoded = base64.b64encode(JFK.read_bytes()).decode()
    verbose = api.post(
        "/v1/audio/align",
        json={"audio_base64": encoded, "reference_text": JFK_TEXT, "response_format": "verbose_json"},
        timeout=SLOW,
    )
    assert verbose.status_code == 200, verbose.text
    details = verbose.json()
    assert details["alignments"] == body["alignments"]
    assert details["model"] == "PocketSphinx-en-us" and details["word_count"] == len(JFK_TEXT.split())
    assert details["language"] is None and details["processing_time_ms"] > 0

    text = align(api, {"text": JFK_TEXT, "response_format": "text", "language": "English"})
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    lines = [line.split("\t") for line in text.text.splitlines()]
    assert [(float(s), float(e), w) for s, e, w in lines] == [
        (a["start"], a["end"], a["word"]) for a in body["alignments"]
    ]


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "hello", "model": "Whisper-Tiny.en"}, "model"),
        ({"text": "hello", "response_format": "srt"}, "response_format"),
        ({"text": "bonjour", "language": "fr"}, "language"),
    ],
)
def test_align_rejects_bad_requests(api: httpx.Client, data: dict[str, str], param: str) -> None:
    assert_error(align(api, data), 400, param)
