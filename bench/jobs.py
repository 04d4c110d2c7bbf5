"""Persisted speech-to-text jobs through a real ``sauti serve`` (one worker process):

- jobs/s accepted over HTTP: ``--burst`` multipart uploads of a 3 s clip, sent one after the
  other, each answered once its record, its events and its queue message are committed;
- end-to-end RTF of a transcription job (POST → ``ready``, polled) on the ~59 s file (jfk.flac
  five times), against faster-whisper run directly on the same audio;
- end-to-end RTF of a diarization job, and of a speaker-attributed ASR job, on the two-speaker
  fixture mixed to mono;
- ``/livez`` latency while ``--burst`` jobs are submitted and run to ``ready`` (target: under
  50 ms), probed from another process (``bench/livez_probe.py``), with how late that process's own
  sleeps woke (the machine's scheduling noise);
- with ``--long-minutes N``: a transcription job and a diarization job of an N-minute file, and
  the worker's peak resident memory while each runs (bounded memory: it should not grow with N).

    .venv/bin/python bench/jobs.py [--repeat 3] [--burst 50] [--long-minutes 0]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


# The server fixture and the direct faster-whisper run.
from bench import openai_overhead as overhead  # noqa: E402

engine_bench = overhead.engine_bench
SAMPLE_RATE = 16_000
POLL_SECONDS = 0.05


def create(base_url: str, audio: bytes, name: str = "audio.wav", **fields: str) -> str:
    content_type = {"wav": "audio/wav", "opus": "audio/ogg"}[name.rpartition(".")[2]]
    response = httpx.post(
        f"{base_url}/v1/speech-to-text/jobs",
        files={"file": (name, audio, content_type)},
        data={"language": "en", **fields},
        timeout=120,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def wait_ready(base_url: str, record_id: str, timeout: float = 3600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record: dict[str, Any] = httpx.get(
            f"{base_url}/v1/speech-to-text/jobs/{record_id}", timeout=30
        ).json()
        if record["processing_status"] in ("ready", "failed", "cancelled"):
            if record["processing_status"] != "ready":
                raise RuntimeError(
                    f"job {record_id} ended {record['processing_status']}: {record.get('error')}"
                )
            return record
        time.sleep(POLL_SECONDS)
    raise TimeoutError(record_id)


def end_to_end(base_url: str, audio: bytes, seconds: float, repeat: int, **fields: str) -> float:
    def run() -> float:
        started = time.perf_counter()
        wait_ready(base_url, create(base_url, audio, **fields))
        return time.perf_counter() - started

    run()  # warm-up: the worker loads the models
    return statistics.median(run() for _ in range(max(1, repeat))) / seconds


def accepted_per_second(base_url: str, clip: bytes, count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        create(base_url, clip, title=f"burst {n}")
    return count / (time.perf_counter() - started)


def livez_during_burst(base_url: str, clip: bytes, count: int) -> str:
    """Submit ``count`` jobs and wait for all while probing /livez from another process."""
    port = base_url.rpartition(":")[2]
    probe = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("livez_probe.py")), port],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        for record_id in [create(base_url, clip, title=f"livez {n}") for n in range(count)]:
            wait_ready(base_url, record_id)
    finally:
        output, _ = probe.communicate(b"", timeout=60)
    figures = json.loads(output)
    latencies = sorted(figures["latencies"])
    stalls = figures["stalls"]
    within = sum(latency < 0.05 for latency in latencies) / len(latencies)
    late = sum(stall > 0.05 for stall in stalls) / max(1, len(stalls))
    median = statistics.median(latencies)
    return (
        f"{len(latencies)} probes, {within:.1%} under 50 ms: median {median * 1000:.1f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms, max {latencies[-1] * 1000:.0f} ms; "
        f"the probe's own 50 ms sleeps woke > 50 ms late {late:.1%} of the time (worst "
        f"{max(stalls, default=0) * 1000:.0f} ms); failures {len(figures['failures'])}"
    )


def worker_peak_rss_mb(base_url: str, audio: bytes, name: str, **fields: str) -> tuple[float, float]:
    """Run one job while sampling the worker's resident memory: (seconds, peak MiB)."""
    pid = next(
        p["pid"] for p in httpx.get(f"{base_url}/v1/health").json()["workers"]["processes"] if p["alive"]
    )
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        status = Path(f"/proc/{pid}/status")
        while not stop.is_set():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    wait_ready(base_url, create(base_url, audio, name, **fields))
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    return elapsed, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--long-minutes", type=float, default=0.0)
    args = parser.parse_args(argv)

    from workers.engines.audio import encode_audio

    context = engine_bench.make_context(engine_bench.DEFAULT_AUDIO_DIR, args.repeat)
    long_seconds = len(context.long) / SAMPLE_RATE
    mix_seconds = len(context.mix) / SAMPLE_RATE
    clip = encode_audio(context.jfk[: 3 * SAMPLE_RATE], SAMPLE_RATE, "wav")
    direct = overhead.asr_direct(context.long, args.repeat)
    print(f"repeat={args.repeat}, cpus={engine_bench.usable_cpus()}, cpu={engine_bench.cpu_model()}")

    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, overhead.running_server(Path(tmp) / "data") as base_url:
        long_wav = encode_audio(context.long, SAMPLE_RATE, "wav")
        rtf = end_to_end(base_url, long_wav, long_seconds, args.repeat, model=overhead.ASR_MODEL)
        rows.append(
            (
                f"transcription job, {long_seconds:.0f} s file ({overhead.ASR_MODEL})",
                f"RTF {rtf:.3f}",
                f"direct faster-whisper RTF {direct / long_seconds:.3f}; "
                f"ratio {rtf * long_seconds / direct:.2f}",
            )
        )
        mix_wav = encode_audio(context.mix, SAMPLE_RATE, "wav")
        rtf = end_to_end(base_url, mix_wav, mix_seconds, args.repeat, job_kind="diarization")
        rows.append(
            (f"diarization job, {mix_seconds:.0f} s two-speaker mix", f"RTF {rtf:.3f}", "POST → ready")
        )
        rtf = end_to_end(
            base_url, mix_wav, mix_seconds, args.repeat, job_kind="saa", model=overhead.ASR_MODEL
        )
        rows.append(
            (
                f"speaker-attributed ASR job, {mix_seconds:.0f} s two-speaker mix",
                f"RTF {rtf:.3f}",
                "diarized, then one decode per speaker's stretch",
            )
        )
        rate = accepted_per_second(base_url, clip, args.burst)
        rows.append(
            (f"jobs accepted over HTTP ({args.burst} x 3 s uploads)", f"{rate:.1f} jobs/s", "sequential")
        )
        rows.append(
            (
                f"/livez while {args.burst} jobs run (1 worker)",
                "see notes",
                livez_during_burst(base_url, clip, args.burst),
            )
        )
        if args.long_minutes > 0:
            copies = max(1, round(args.long_minutes * 60 / (len(context.jfk) / SAMPLE_RATE + 1)))
            gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
            pieces = [context.jfk]
            for _ in range(copies - 1):
                pieces += [gap, context.jfk]
            long_audio = np.concatenate(pieces).astype(np.float32)
            del pieces
            minutes = len(long_audio) / SAMPLE_RATE / 60
            # Opus: a WAV of an hour (115 MB) is over the 64 MiB limit of first-party uploads.
            long_file = encode_audio(long_audio, SAMPLE_RATE, "opus")
            del long_audio
            for kind, fields in (
                ("transcription", {"model": overhead.ASR_MODEL}),
                ("diarization", {"job_kind": "diarization"}),
            ):
                elapsed, peak = worker_peak_rss_mb(base_url, long_file, "long.opus", **fields)
                rows.append(
                    (
                        f"{kind} job, {minutes:.0f} min file",
                        f"RTF {elapsed / (minutes * 60):.3f}",
                        f"worker peak RSS {peak:.0f} MiB",
                    )
                )
    engine_bench.print_table(("workload", "figure", "notes"), rows, (False, True, False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
