"""Persisted speech-to-text records on a real ``sauti serve``: ``/v1/speech-to-text/jobs`` and
``/v1/diarizations`` over HTTP, followed through their SSE events to the end, edited, downloaded,
cancelled, rerun and deleted; and the removed routes."""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import JFK, JFK_TEXT
from tests.e2e.conftest import SautiServer, SSEFrame, iter_sse, read_sse, stream_events, wait_until
from tests.recordings import TWO_SENTENCES_SECONDS, TWO_SENTENCES_TEXT, encoded, two_sentences
from tests.two_speakers import STEREO, assert_each_sentence_has_one_speaker, turn_taking
from tests.wer import word_error_rate
from workers.engines.audio import decode_audio, encode_audio

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

JOBS = "/v1/speech-to-text/jobs"
DIARIZATIONS = "/v1/diarizations"
MAX_WER = 0.10
SLOW = httpx.Timeout(10.0, read=120.0)
SAMPLE_RATE = 16_000
MODEL = "Whisper-Tiny.en"


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == str(status) and error["message"]
    if param is not None:
        assert error["param"] == param, error
    return error


def create(
    api: httpx.Client,
    audio: bytes = b"",
    name: str = "jfk.flac",
    content_type: str = "audio/flac",
    path: str = JOBS,
    **data: Any,
) -> httpx.Response:
    """A multipart create request (JFK unless ``audio`` says otherwise)."""
    files = {"file": (name, audio or JFK.read_bytes(), content_type)}
    return api.post(path, files=files, data=data, timeout=SLOW)


def record_of(api: httpx.Client, record_id: str, path: str = JOBS) -> dict[str, Any]:
    response = api.get(f"{path}/{record_id}")
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


def wait_for_status(
    api: httpx.Client, record_id: str, statuses: tuple[str, ...], timeout: float = 120.0, path: str = JOBS
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        record = record_of(api, record_id, path)
        return record if record["processing_status"] in statuses else None

    found: dict[str, Any] = wait_until(check, timeout, f"{record_id} to be {'/'.join(statuses)}", 0.2)
    return found


def unique_wav(copies: int = 1) -> bytes:
    """JFK (``copies`` times, with a second of silence between) as WAV, with a random last sample:
    bytes no other test stores, so their media object is this record's alone."""
    jfk = decode_audio(JFK)
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    pieces = [jfk]
    for _ in range(copies - 1):
        pieces += [gap, jfk]
    samples = np.concatenate(pieces).astype(np.float32)
    samples[-1] = np.float32(np.random.default_rng().uniform(-1e-3, 1e-3))
    return encode_audio(samples, SAMPLE_RATE, "wav")


def mono_mix() -> bytes:
    """stereo_diarization.wav mixed down to mono: two speakers, one sentence inside the other."""
    return encode_audio(decode_audio(STEREO), SAMPLE_RATE, "wav")


def media_file(server: SautiServer, digest: str) -> Any:
    return server.data_dir / "media" / digest[:2] / digest


@dataclass
class Followed:
    created: httpx.Response
    frames: list[SSEFrame]
    progress: list[float]
    final: dict[str, Any]
    record: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.record = self.created.json()


def follow(server: SautiServer, api: httpx.Client, created: httpx.Response, path: str = JOBS) -> Followed:
    """Follow a new record's SSE events to its end while another client polls its progress."""
    assert created.status_code == 202, created.text
    record_id = created.json()["id"]
    progress: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        with server.client() as poller:
            while not stop.is_set():
                progress.append(record_of(poller, record_id, path)["progress"])
                time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        frames = read_sse(api, f"{path}/{record_id}/events", params={"until": "terminal"}, timeout=240)
    finally:
        stop.set()
        poller.join(timeout=10)
    return Followed(created, frames, progress, record_of(api, record_id, path))


@pytest.fixture(scope="module")
def spoken_flac() -> bytes:
    """Two sentences with a pause between (``tests.recordings.two_sentences``) as FLAC: several
    segments on any CPU, where jfk.flac alone is one or two."""
    return encoded(two_sentences(), "flac")


@pytest.fixture(scope="module")
def spoken(sauti_server: SautiServer, api: httpx.Client, spoken_flac: bytes) -> Followed:
    """The two sentences uploaded as multipart and followed to ready."""
    created = create(api, spoken_flac, "spoken.flac", title="Inaugural", model=MODEL, language="en")
    return follow(sauti_server, api, created)


# --- creating and following a transcription ---------------------------------------------


def test_a_multipart_upload_is_queued_then_followed_to_ready(spoken: Followed) -> None:
    record = spoken.record
    assert spoken.created.headers["location"] == f"{JOBS}/{record['id']}"
    assert record["object"] == "speech_to_text.job" and record["job_kind"] == "transcription"
    assert record["processing_status"] in ("queued", "processing")
    assert (record["title"], record["filename"], record["content_type"]) == (
        "Inaugural",
        "spoken.flac",
        "audio/flac",
    )
    assert record["model"] == MODEL and record["summary_status"] == "none"

    types = [frame.event for frame in spoken.frames]
    assert types[0] == "transcription.requested" and types[-1] == "transcription.completed"
    assert (
        "transcription.language_detected" in types and types.count("transcription.segment_transcribed") >= 2
    )
    ids = [int(frame.id or 0) for frame in spoken.frames]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert spoken.frames[-1].json()["stream_id"] == f"transcription-{record['id']}"


def test_polling_shows_monotonic_progress_to_100(spoken: Followed) -> None:
    assert spoken.progress, "the record was never polled"
    assert spoken.progress == sorted(spoken.progress)
    assert all(0.0 <= value <= 100.0 for value in spoken.progress)
    assert spoken.final["progress"] == 100.0


def test_the_ready_record_has_the_transcript_and_its_words(spoken: Followed) -> None:
    final = spoken.final
    assert final["processing_status"] == "ready" and final["error"] is None
    assert word_error_rate(TWO_SENTENCES_TEXT, final["text"]) <= MAX_WER
    assert final["language"] == "en" and final["duration"] == pytest.approx(TWO_SENTENCES_SECONDS, abs=0.1)
    assert final["completed_at"] >= final["created_at"] and final["processing_time_ms"] > 0
    segments = final["segments"]
    assert len(segments) >= 2 and [s["id"] for s in segments] == list(range(len(segments)))
    words = [word for segment in segments for word in segment["words"]]
    assert len(words) == len(final["text"].split())
    assert all(w["start"] <= w["end"] <= final["duration"] + 0.05 for w in words)
    assert final["speakers"] == [] and final["speaker_turns"] == []


def test_sse_resumes_after_last_event_id(api: httpx.Client, spoken: Followed) -> None:
    middle = len(spoken.frames) // 2
    resumed = read_sse(
        api,
        f"{JOBS}/{spoken.record['id']}/events",
        params={"until": "terminal"},
        last_event_id=spoken.frames[middle].id,
    )
    assert [f.id for f in resumed] == [f.id for f in spoken.frames[middle + 1 :]]
    page = api.get(f"{JOBS}/{spoken.record['id']}/events", params={"limit": 2}).json()
    assert [event["type"] for event in page["records"]] == ["transcription.requested", "transcription.queued"]
    assert page["pagination"]["has_more"] is True


def test_a_json_upload_with_base64_audio(api: httpx.Client) -> None:
    encoded = base64.b64encode(JFK.read_bytes()).decode()
    created = api.post(JOBS, json={"audio_base64": encoded, "model_id": MODEL, "job_kind": "transcription"})
    assert created.status_code == 202, created.text
    record = wait_for_status(api, created.json()["id"], ("ready", "failed"))
    assert record["processing_status"] == "ready", record["error"]
    assert record["content_type"] == "audio/flac" and record["filename"] is None
    assert word_error_rate(JFK_TEXT, record["text"]) <= MAX_WER


def test_stream_true_answers_with_the_job_events(api: httpx.Client) -> None:
    files = {"file": ("jfk.flac", JFK.read_bytes(), "audio/flac")}
    with api.stream(
        "POST", JOBS, files=files, data={"model": MODEL, "stream": "true"}, timeout=SLOW
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = list(iter_sse(response))
    assert frames[0].event == "transcription.requested" and frames[-1].event == "transcription.completed"
    text = frames[-1].json()["data"]["result"]["text"]
    assert word_error_rate(JFK_TEXT, text) <= MAX_WER


# --- listing ----------------------------------------------------------------------------


def test_lists_page_with_a_cursor_and_filter_by_kind(api: httpx.Client, spoken: Followed) -> None:
    second = create(api, model=MODEL)
    assert second.status_code == 202, second.text
    first_page = api.get(JOBS, params={"limit": 1})
    assert first_page.status_code == 200, first_page.text
    body = first_page.json()
    assert body["object"] == "list" and len(body["records"]) == 1
    assert body["records"][0]["id"] == second.json()["id"]  # newest first
    assert body["pagination"] == {
        "next_cursor": body["pagination"]["next_cursor"],
        "has_more": True,
        "limit": 1,
    }
    assert "segments" not in body["records"][0]
    seen = [body["records"][0]["id"]]
    cursor = body["pagination"]["next_cursor"]
    while cursor:
        more = api.get(JOBS, params={"limit": 2, "cursor": cursor}).json()
        seen += [r["id"] for r in more["records"]]
        cursor = more["pagination"]["next_cursor"]
    assert spoken.record["id"] in seen and len(seen) == len(set(seen))

    everything = api.get(JOBS, params={"limit": 1000, "job_kind": "all"}).json()
    assert everything["pagination"]["limit"] == 500
    assert [r["id"] for r in everything["records"]] == seen
    kinds = {r["job_kind"] for r in api.get(JOBS, params={"job_kind": "transcription"}).json()["records"]}
    assert kinds == {"transcription"}
    diarizations = api.get(JOBS, params={"job_kind": "diarization"}).json()["records"]
    assert spoken.record["id"] not in [r["id"] for r in diarizations]
    assert spoken.record["id"] not in [r["id"] for r in api.get(DIARIZATIONS).json()["records"]]
    assert api.get(JOBS, params={"job_kind": "saa"}).status_code == 200
    assert_error(api.get(JOBS, params={"job_kind": "tts"}), 400, "job_kind")
    assert_error(api.get(DIARIZATIONS, params={"job_kind": "transcription"}), 400, "job_kind")
    assert_error(api.get(JOBS, params={"cursor": "not-a-cursor"}), 400, "cursor")


def test_job_kind_disambiguates_one_record(api: httpx.Client, spoken: Followed) -> None:
    record_id = spoken.record["id"]
    assert api.get(f"{JOBS}/{record_id}", params={"job_kind": "transcription"}).status_code == 200
    assert_error(api.get(f"{JOBS}/{record_id}", params={"job_kind": "diarization"}), 404)
    assert_error(api.get(f"{JOBS}/{record_id}", params={"job_kind": "saa"}), 404)
    assert_error(api.get(f"{DIARIZATIONS}/{record_id}"), 404)
    assert_error(api.get(f"{JOBS}/0123456789abcdef0123456789abcdef"), 404)


# --- editing and downloading ------------------------------------------------------------


def test_edits_change_only_what_the_kind_allows(api: httpx.Client, spoken: Followed) -> None:
    path = f"{JOBS}/{spoken.record['id']}"
    renamed = api.patch(path, json={"title": "Ask not"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "Ask not" and renamed.json()["text"] == spoken.final["text"]
    edited = api.put(path, json={"text": "Ask not what your country can do for you."})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["text"], edited.json()["title"]) == (
        "Ask not what your country can do for you.",
        "Ask not",
    )
    assert_error(api.patch(path, json={"speaker_labels": {"SPEAKER_00": "JFK"}}), 400, "speaker_labels")
    assert_error(api.patch(path, json={"processing_status": "failed"}), 400, "processing_status")
    assert_error(api.patch(path, json={}), 400)
    assert_error(api.patch(path, content=b"title=x", headers={"content-type": "text/plain"}), 415)
    types = [e["type"] for e in stream_events(api, f"transcription-{spoken.record['id']}")]
    assert types.count("transcription.record_updated") == 2


def test_the_audio_downloads_whole_or_by_range(
    api: httpx.Client, spoken: Followed, spoken_flac: bytes
) -> None:
    original = spoken_flac
    whole = api.get(f"{JOBS}/{spoken.record['id']}/audio")
    assert whole.status_code == 200 and whole.content == original
    assert whole.headers["content-type"] == "audio/flac" and whole.headers["accept-ranges"] == "bytes"
    assert "spoken.flac" in whole.headers["content-disposition"]
    part = api.get(f"{JOBS}/{spoken.record['id']}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(original)}"
    assert part.content == original[100:200]


# --- cancel, rerun, delete --------------------------------------------------------------


def test_a_rerun_runs_the_job_again_from_the_stored_audio(api: httpx.Client) -> None:
    created = create(api, model=MODEL)
    record_id = created.json()["id"]
    first = wait_for_status(api, record_id, ("ready",))
    rerun = api.post(f"{JOBS}/{record_id}/reruns")
    assert rerun.status_code == 202, rerun.text
    assert rerun.json()["run"] == 2 and rerun.json()["processing_status"] in ("queued", "processing")
    assert rerun.json()["text"] is None and rerun.json()["segments"] == []
    assert_error(api.post(f"{JOBS}/{record_id}/reruns"), 409)  # still going
    second = wait_for_status(api, record_id, ("ready",))
    assert second["run"] == 2 and second["text"] == first["text"]
    types = [e["type"] for e in stream_events(api, f"transcription-{record_id}")]
    assert types.count("transcription.requested") == 2 and types.count("transcription.completed") == 2


def test_cancel_stops_a_job_in_flight(api: httpx.Client) -> None:
    created = create(api, unique_wav(copies=6), "long.wav", "audio/wav", model=MODEL)
    record_id = created.json()["id"]
    cancelled = api.post(f"{JOBS}/{record_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    record = wait_for_status(api, record_id, ("cancelled", "ready", "failed"))
    assert record["processing_status"] == "cancelled" and record["completed_at"] is not None
    assert_error(api.post(f"{JOBS}/{record_id}/cancel"), 409)
    assert_error(api.post(f"{JOBS}/0123456789abcdef0123456789abcdef/cancel"), 404)


def test_delete_removes_the_record_and_its_audio_but_not_its_history(
    sauti_server: SautiServer, api: httpx.Client
) -> None:
    created = create(api, unique_wav(), "mine.wav", "audio/wav", model=MODEL)
    record = created.json()
    stored = media_file(sauti_server, record["audio_sha256"])
    assert stored.is_file() and record["content_type"] == "audio/wav"
    deleted = api.delete(f"{JOBS}/{record['id']}")  # still in flight: cancelled first
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": record["id"], "object": "speech_to_text.job", "deleted": True}
    for suffix in ("", "/audio", "/events"):
        assert_error(api.get(f"{JOBS}/{record['id']}{suffix}"), 404)
    assert_error(api.delete(f"{JOBS}/{record['id']}"), 404)
    assert not stored.exists()
    assert record["id"] not in [r["id"] for r in api.get(JOBS, params={"limit": 500}).json()["records"]]
    types = [e["type"] for e in stream_events(api, f"transcription-{record['id']}")]
    assert "transcription.record_deleted" in types and types[0] == "transcription.requested"


def test_audio_shared_by_two_records_stays_until_the_last_is_deleted(
    sauti_server: SautiServer, api: httpx.Client
) -> None:
    audio = unique_wav()
    first = create(api, audio, "a.wav", "audio/wav", model=MODEL).json()
    second = create(api, audio, "b.wav", "audio/wav", model=MODEL).json()
    stored = media_file(sauti_server, first["audio_sha256"])
    assert second["audio_sha256"] == first["audio_sha256"]
    assert api.delete(f"{JOBS}/{first['id']}").status_code == 200
    assert stored.is_file()
    assert api.get(f"{JOBS}/{second['id']}/audio").content == audio
    assert api.delete(f"{JOBS}/{second['id']}").status_code == 200
    assert not stored.exists()


# --- refused requests -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "data", "param"),
    [
        ({"job_kind": "all"}, {}, "job_kind"),
        ({}, {"job_kind": "speech"}, "job_kind"),
        ({}, {"min_speakers": "3", "max_speakers": "2"}, "max_speakers"),
        ({}, {"min_speakers": "0"}, "min_speakers"),
        ({}, {"max_speakers": "two"}, "max_speakers"),
        ({}, {"generate_summary": "maybe"}, "generate_summary"),
        ({}, {"model": "No-Such-Model"}, "model"),
        ({}, {"model_id": "Resemblyzer"}, "model_id"),
        ({"job_kind": "saa"}, {"stream": "true"}, "stream"),
        ({"job_kind": "saa"}, {"include_timestamps": "true"}, "include_timestamps"),
        ({"job_kind": "saa"}, {"timestamp_granularities[]": "word"}, "timestamp_granularities"),
        ({"job_kind": "speaker_attributed_asr"}, {"aligner_model": "PocketSphinx-en-us"}, "aligner_model"),
        ({"job_kind": "diarization"}, {"model": MODEL}, "model"),
    ],
)
def test_fields_that_cannot_be_honoured_are_400(
    api: httpx.Client, query: dict[str, str], data: dict[str, str], param: str
) -> None:
    files = {"file": ("jfk.flac", JFK.read_bytes(), "audio/flac")}
    assert_error(api.post(JOBS, params=query, files=files, data=data), 400, param)


def test_missing_audio_wrong_content_types_and_oversized_uploads(api: httpx.Client) -> None:
    assert_error(
        api.post(JOBS, data={"model": MODEL}, files={"other": ("x", b"1", "text/plain")}), 400, "file"
    )
    assert_error(api.post(JOBS, json={"model": MODEL}), 400, "file")
    assert_error(api.post(JOBS, json={"audio_base64": "%%%"}), 400, "audio_base64")
    assert_error(api.post(JOBS, content=b"audio", headers={"content-type": "audio/flac"}), 415)
    assert_error(api.post(DIARIZATIONS, content=b"{}", headers={"content-type": "text/plain"}), 415)
    too_big = b"\x00" * (64 * 1024 * 1024 + 1)
    assert_error(create(api, too_big, "big.wav", "audio/wav"), 413)


# --- the removed routes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "current"),
    [
        ("GET", "/v1/transcriptions", "/v1/speech-to-text/jobs?job_kind=transcription"),
        ("POST", "/v1/transcriptions", "/v1/speech-to-text/jobs?job_kind=transcription"),
        ("GET", "/v1/transcriptions/abc/audio", "/v1/speech-to-text/jobs/abc/audio?job_kind=transcription"),
        ("GET", "/v1/transcriptions/jobs", "/v1/speech-to-text/jobs"),
        ("GET", "/v1/transcription/realtime/ws", "/v1/speech-to-text/realtime/ws"),
        ("POST", "/v1/audio/diarize", "/v1/speech-to-text/jobs?job_kind=diarization"),
        ("GET", "/v1/audio/diarizations/abc", "/v1/speech-to-text/jobs/abc?job_kind=diarization"),
        ("DELETE", "/v1/text-to-speech-generations/abc", "/v1/text-to-speech/abc"),
        ("GET", "/v1/voice-design-generations", "/v1/voice-designs"),
        ("POST", "/v1/voice-clone-generations", "/v1/voice-clones"),
    ],
)
def test_removed_routes_are_404_and_name_the_current_route(
    api: httpx.Client, method: str, path: str, current: str
) -> None:
    error = assert_error(api.request(method, path), 404)
    assert error["type"] == "not_found_error" and current in error["message"]


def test_the_removed_realtime_socket_refuses_the_upgrade(api: httpx.Client) -> None:
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": base64.b64encode(b"sauti-test-key-1").decode(),
        "Sec-WebSocket-Version": "13",
    }
    error = assert_error(api.get("/v1/transcription/realtime/ws", headers=upgrade), 404)
    assert "/v1/speech-to-text/realtime/ws" in error["message"]


# --- diarization, speaker-attributed ASR and summaries (the workers' actors) -------------


@pytest.fixture(scope="module")
def diarized(sauti_server: SautiServer, api: httpx.Client) -> Followed:
    created = create(api, mono_mix(), "two.wav", "audio/wav", path=DIARIZATIONS, title="Two voices")
    return follow(sauti_server, api, created, DIARIZATIONS)


def test_a_diarization_finds_two_speakers_stage_by_stage(api: httpx.Client, diarized: Followed) -> None:
    final = diarized.final
    assert diarized.record["object"] == "diarization" and diarized.record["job_kind"] == "diarization"
    types = [frame.event for frame in diarized.frames]
    assert "diarization.speech_detected" in types and "diarization.speakers_found" in types
    steps = [f.json()["data"]["step"] for f in diarized.frames if f.event == "diarization.progressed"]
    assert steps == ["speech", "embeddings", "clustering"]
    assert diarized.progress == sorted(diarized.progress)
    assert final["processing_status"] == "ready", final["error"]
    assert final["speakers"] == ["SPEAKER_00", "SPEAKER_01"] and final["text"] is None
    assert {turn["speaker"] for turn in final["speaker_turns"]} == {"SPEAKER_00", "SPEAKER_01"}
    assert all(set(turn) == {"speaker", "speaker_id", "start", "end"} for turn in final["speaker_turns"])
    # The same record, seen through the unified list.
    listed = api.get(JOBS, params={"job_kind": "diarization"}).json()["records"]
    assert diarized.record["id"] in [r["id"] for r in listed]
    assert record_of(api, diarized.record["id"])["object"] == "speech_to_text.job"


def test_speaker_labels_rename_a_diarization(api: httpx.Client, diarized: Followed) -> None:
    path = f"{DIARIZATIONS}/{diarized.record['id']}"
    labelled = api.patch(path, json={"speaker_labels": {"SPEAKER_00": "Dorothy"}})
    assert labelled.status_code == 200, labelled.text
    turns = labelled.json()["speaker_turns"]
    assert {t["speaker"] for t in turns} == {"Dorothy", "SPEAKER_01"}
    assert {t["speaker_id"] for t in turns if t["speaker"] == "Dorothy"} == {"SPEAKER_00"}
    assert_error(api.patch(path, json={"text": "words"}), 400, "text")
    assert_error(api.patch(path, json={"speaker_labels": {"SPEAKER_09": "X"}}), 400, "speaker_labels")
    cleared = api.patch(path, json={"speaker_labels": {"SPEAKER_00": None}}).json()
    assert cleared["speaker_labels"] == {}


def test_the_diarization_view_downloads_reruns_and_deletes(
    sauti_server: SautiServer, api: httpx.Client, diarized: Followed
) -> None:
    path = f"{DIARIZATIONS}/{diarized.record['id']}"
    audio = api.get(f"{path}/audio")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    rerun = api.post(f"{path}/reruns")
    assert rerun.status_code == 202, rerun.text
    assert rerun.json()["run"] == 2 and rerun.json()["speakers"] == []
    again = wait_for_status(api, diarized.record["id"], ("ready", "failed"), path=DIARIZATIONS)
    assert again["processing_status"] == "ready" and again["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
    deleted = api.delete(path)
    assert deleted.json() == {"id": diarized.record["id"], "object": "diarization", "deleted": True}
    assert_error(api.get(path), 404)
    assert_error(api.get(f"{JOBS}/{diarized.record['id']}"), 404)


def test_speaker_attributed_asr_gives_each_speakers_sentence_to_them(
    sauti_server: SautiServer, api: httpx.Client
) -> None:
    """Two speakers taking turns. (In the overlapping mix, which blend of the two voices the
    embedded diarizer calls whose depends on the CPU's numerics: on an AMD EPYC the overlap came
    back as one speaker and the left-hand speaker's solo as the other.)"""
    conversation = encode_audio(turn_taking(), SAMPLE_RATE, "wav")
    created = create(api, conversation, "two.wav", "audio/wav", job_kind="saa", model=MODEL, max_speakers="2")
    assert created.json()["job_kind"] == "speaker_attributed_asr"
    saa = follow(sauti_server, api, created)
    record = saa.final
    assert record["processing_status"] == "ready", record["error"]
    assert record["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
    assert all(turn["text"] for turn in record["speaker_turns"])
    assert_each_sentence_has_one_speaker(record["speaker_turns"])
    # Diarized first, then transcribed a speaker at a time: every segment has its speaker.
    types = [frame.event for frame in saa.frames]
    assert types.index("transcription.speakers_found") < types.index("transcription.segment_transcribed")
    assert {segment["speaker_id"] for segment in record["segments"]} == set(record["speakers"])
    assert saa.progress == sorted(saa.progress) and record["progress"] == 100.0


def test_a_summary_streams_in_and_can_be_regenerated(api: httpx.Client) -> None:
    created = create(api, model=MODEL, generate_summary="true")
    assert created.json()["summary_status"] == "pending"
    record_id = created.json()["id"]

    def summarized() -> dict[str, Any] | None:
        record = record_of(api, record_id)
        return record if record["summary_status"] in ("ready", "failed") else None

    record = wait_until(summarized, 240, "the summary", interval=0.5)
    assert record["summary_status"] == "ready", record["summary_error"]
    assert record["summary"].strip() and record["summary_model"]
    types = [e["type"] for e in stream_events(api, f"transcription-{record_id}")]
    assert "transcription.summary_generated" in types and "transcription.summary_completed" in types

    regenerated = api.post(f"{JOBS}/{record_id}/summary/regenerate", params={"job_kind": "transcription"})
    assert regenerated.status_code == 202, regenerated.text
    assert regenerated.json()["summary_status"] == "pending"
    record = wait_until(summarized, 240, "the regenerated summary", interval=0.5)
    assert record["summary_status"] == "ready", record["summary_error"]
    assert_error(api.post(f"{JOBS}/{record_id}/summary/regenerate", json={"model": MODEL}), 400, "model")


def test_a_summary_needs_a_finished_job(api: httpx.Client) -> None:
    created = create(api, unique_wav(copies=3), "long.wav", "audio/wav", model=MODEL).json()
    assert_error(api.post(f"{JOBS}/{created['id']}/summary/regenerate"), 409)
    api.post(f"{JOBS}/{created['id']}/cancel")
