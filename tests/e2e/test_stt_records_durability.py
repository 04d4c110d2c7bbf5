"""Speech-to-text records under stress: a worker killed mid-transcription, and a burst of jobs.

Each test runs its own server (one worker process, one worker thread) so that nothing else
shares the queue.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import JFK
from tests.e2e.conftest import (
    REPO_ROOT,
    SautiServer,
    alive_workers,
    event_types,
    wait_for_events,
    wait_for_terminal,
    wait_until,
)
from tests.wer import word_error_rate
from workers.engines.audio import decode_audio, encode_audio

pytestmark = pytest.mark.e2e

SAMPLE_RATE = 16_000


STORY = (
    "The river was high that spring, and the ferry ran only twice a day. "
    "Martha packed three loaves of bread, a jar of honey and her brother's old map. "
    "At the station a conductor in a green coat checked every ticket twice. "
    "Nobody on the platform knew that the northern bridge had closed overnight. "
    "By noon the clouds had cleared and the valley looked almost golden. "
    "A farmer offered them a ride on his cart as far as the mill. "
    "They counted seventeen windmills before the road turned toward the coast. "
    "In the harbour, fishermen were mending nets and arguing about the weather. "
    "The lighthouse keeper said the last boat would leave at half past six. "
    "Martha wrote a short letter to her mother and posted it at the inn. "
    "Later that evening the wind changed and the sea grew calm again. "
    "When the boat finally left, the whole town seemed to be waving from the pier."
)


def distinct_speech(client: httpx.Client) -> bytes:
    """About a minute of speech in which no sentence repeats, spoken by the server's Piper voice.

    Repeated text (jfk again and again) trips faster-whisper's compression-ratio check, which
    decodes again with sampling: two runs would then differ whatever a crash did.
    """
    response = client.post(
        "/v1/audio/speech",
        json={"model": "Piper-Joe-Medium", "input": STORY, "response_format": "wav"},
    )
    assert response.status_code == 200, response.text
    return response.content


def create_record(client: httpx.Client, audio: bytes, name: str, **fields: str) -> dict[str, Any]:
    response = client.post(
        "/v1/speech-to-text/jobs",
        files={"file": (name, audio, "audio/wav")},
        data={"model": "Whisper-Tiny.en", "language": "en", **fields},
    )
    assert response.status_code in (200, 201, 202), response.text
    record: dict[str, Any] = response.json()
    return record


def segments_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == "transcription.segment_transcribed"]


def same_segment(a: dict[str, Any], b: dict[str, Any], tolerance: float = 0.1) -> bool:
    """The same segment: id, times and text exactly; word times within ``tolerance`` seconds
    (faster-whisper's word alignment can move a boundary by a frame from one run to the next)."""
    if (a["id"], a["start"], a["end"], a["text"]) != (b["id"], b["start"], b["end"], b["text"]):
        return False
    words_a, words_b = a.get("words") or [], b.get("words") or []
    return len(words_a) == len(words_b) and all(
        x["word"] == y["word"]
        and abs(x["start"] - y["start"]) <= tolerance
        and abs(x["end"] - y["end"]) <= tolerance
        for x, y in zip(words_a, words_b, strict=True)
    )


def words_of(segments: list[dict[str, Any]]) -> str:
    return " ".join(segment["text"] for segment in segments)


def test_a_worker_killed_mid_transcription_resumes_without_duplicates(
    server_factory: Callable[..., SautiServer],
) -> None:
    server = server_factory()
    with server.client(timeout=httpx.Timeout(120.0)) as client:
        wait_until(lambda: alive_workers(client), 30, "a live worker")
        audio = distinct_speech(client)
        reference = create_record(client, audio, "reference.wav")
        reference_events = wait_for_terminal(client, f"transcription-{reference['id']}", timeout=300)
        assert event_types(reference_events)[-1] == "transcription.completed"

        record = create_record(client, audio, "victim.wav")
        stream_id = f"transcription-{record['id']}"
        before_kill = wait_for_events(
            client, stream_id, lambda events: len(segments_of(events)) >= 2, 120, "two segments"
        )
        victim = alive_workers(client)[0]["pid"]
        os.kill(victim, signal.SIGKILL)
        events = wait_for_terminal(client, stream_id, timeout=300)
        types = event_types(events)

    assert types[-1] == "transcription.completed", types
    assert "transcription.stale" in types or types.count("transcription.started") >= 2, types
    assert len({e["event_id"] for e in events}) == len(events)
    segments = segments_of(events)
    ids = [segment["id"] for segment in segments]
    assert ids == list(range(len(ids))), ids
    assert Counter(ids).most_common(1)[0][1] == 1
    starts = [segment["start"] for segment in segments]
    assert starts == sorted(starts)
    expected = segments_of(reference_events)
    # What was stored before the kill is kept as it was, and it is what an uninterrupted run
    # stores too (decoding is deterministic). Decoding resumes at the last stored segment's end,
    # so later segment boundaries may fall elsewhere, but the words are the same.
    kept = segments_of(before_kill)
    assert segments[: len(kept)] == kept, (kept, segments)
    for stored, uninterrupted in zip(kept, expected, strict=False):
        assert same_segment(stored, uninterrupted), (stored, uninterrupted)
    assert word_error_rate(words_of(expected), words_of(segments)) <= 0.05


@contextlib.contextmanager
def livez_probe(server: SautiServer) -> Iterator[dict[str, Any]]:
    """Probes ``/livez`` from another process (bench/livez_probe.py) while the block runs; the
    dict holds its figures after the block."""
    probe = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "bench" / "livez_probe.py"), str(server.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    figures: dict[str, Any] = {}
    try:
        yield figures
    finally:
        output, _ = probe.communicate(b"", timeout=60)
    figures.update(json.loads(output))


def test_twenty_jobs_at_once_all_complete_in_order_and_the_web_stays_responsive(
    server_factory: Callable[..., SautiServer],
) -> None:
    server = server_factory()
    clip = encode_audio(decode_audio(JFK)[: 3 * SAMPLE_RATE], SAMPLE_RATE, "wav")
    with server.client(timeout=httpx.Timeout(30.0)) as client:
        workers = wait_until(lambda: alive_workers(client), 30, "a live worker")
        # Inference runs at a lower priority than the web process (SAUTI_WORKER_NICENESS).
        assert os.getpriority(os.PRIO_PROCESS, workers[0]["pid"]) == os.getpriority(os.PRIO_PROCESS, 0) + 10
        create_record(client, clip, "warm-up.wav")  # the model loads outside the measured burst
        with livez_probe(server) as probed:
            records = [create_record(client, clip, f"clip-{n}.wav", title=f"clip {n}") for n in range(20)]
            ended = [wait_for_terminal(client, f"transcription-{r['id']}", timeout=300) for r in records]
        finished = []
        for events in ended:
            assert event_types(events)[-1] == "transcription.completed"
            finished.append(next(e["position"] for e in events if e["type"] == "transcription.completed"))
        listed = client.get("/v1/speech-to-text/jobs", params={"limit": 50}).json()["records"]
    # One worker thread takes the queue in order: they finish in the order they were sent.
    assert finished == sorted(finished), finished
    assert all(r["processing_status"] == "ready" for r in listed if r["id"] in {x["id"] for x in records})
    latencies = sorted(probed["latencies"])
    assert len(latencies) >= 20 and probed["failures"] == [], probed["failures"]
    within = sum(latency < 0.05 for latency in latencies) / len(latencies)
    late_sleeps = sum(stall > 0.05 for stall in probed["stalls"]) / max(1, len(probed["stalls"]))
    print(
        f"/livez: {len(latencies)} probes, {within:.1%} under 50 ms, median "
        f"{statistics.median(latencies) * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms; "
        f"{late_sleeps:.1%} of the probe's own sleeps woke over 50 ms late "
        f"(at worst {max(probed['stalls'], default=0) * 1000:.0f} ms)"
    )
    # Every probe is answered, and most within 50 ms: a web process that waited on inference would
    # be slow for a good part of every job. Single probes may still be slow: this shared 2-CPU VM
    # stalls whole processes now and then (the probe's own sleeps wake hundreds of ms late), which
    # no server can hide. bench/jobs.py prints the distribution against the 50 ms target.
    assert latencies[len(latencies) * 3 // 4] < 0.05, (f"{within:.1%} of probes under 50 ms", latencies[-10:])
