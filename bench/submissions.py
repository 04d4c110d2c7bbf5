"""Small JSON job submissions per second over HTTP, through a real ``sauti serve`` with no worker
process (every job stays queued, so what is measured is the submission path alone).

Each submission is ``POST /v1/speech-to-text/jobs`` with JSON: a 0.5 s clip as ``audio_base64``
(about 21 KB of JSON; the media store keeps one copy), a title and the model. The server answers
202 once the job's request event, its record and its broker message are committed. ``--clients``
threads each keep one HTTP/1.1 connection alive and send ``--seconds`` worth of submissions one
after the other; the figure is submissions/s over that window, with each request's latency
(p50/p99). The client is the standard library's ``http.client``, so that it takes little of the
CPU the server is measured on.

    .venv/bin/python bench/submissions.py [--clients 8,16] [--seconds 10] [--repo PATH] [--rounds 1]

``--repo`` serves another checkout (for an A/B against the same bench); ``--rounds`` repeats the
measurement against a fresh server each time and prints every round and the median.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


from bench import openai_overhead as overhead  # noqa: E402

engine_bench = overhead.engine_bench
PATH = "/v1/speech-to-text/jobs"
WARM_UP = 50


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _client(port: int, body: bytes, deadline: float, tally: Tally, lock: threading.Lock) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    mine: list[float] = []
    failures: list[str] = []
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        connection.request("POST", PATH, body, headers)
        response = connection.getresponse()
        payload = response.read()
        mine.append(time.perf_counter() - started)
        if response.status != 202:
            failures.append(f"{response.status} {payload[:200]!r}")
    connection.close()
    with lock:
        tally.latencies.extend(mine)
        tally.failures.extend(failures)


def submissions(port: int, body: bytes, clients: int, seconds: float) -> tuple[float, Tally]:
    tally, lock = Tally(), threading.Lock()
    started = time.perf_counter()
    deadline = started + seconds
    threads = [
        threading.Thread(target=_client, args=(port, body, deadline, tally, lock)) for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return len(tally.latencies) / elapsed, tally


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def request_body(clip: bytes) -> bytes:
    fields = {
        "audio_base64": base64.b64encode(clip).decode(),
        "title": "submission",
        "language": "en",
        "model": overhead.ASR_MODEL,
    }
    return json.dumps(fields).encode()


def one_round(
    repo: Path, body: bytes, client_counts: list[int], seconds: float
) -> dict[int, tuple[float, Tally]]:
    results: dict[int, tuple[float, Tally]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        overhead.running_server(Path(tmp) / "data", repo=repo, workers=0) as base_url,
    ):
        port = int(base_url.rpartition(":")[2])
        submissions(port, body, 4, 1.0)  # warm-up: first-request imports, caches, the media file
        for clients in client_counts:
            results[clients] = submissions(port, body, clients, seconds)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", default="8,16", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout to serve")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    client_counts = [int(part) for part in args.clients.split(",")]

    from workers.engines.audio import encode_audio

    context = engine_bench.make_context(engine_bench.DEFAULT_AUDIO_DIR, 1)
    clip = encode_audio(context.jfk[:8_000], 16_000, "wav")
    body = request_body(clip)
    print(
        f"repo={args.repo}, body={len(body)} bytes, cpus={engine_bench.usable_cpus()}, "
        f"cpu={engine_bench.cpu_model()}"
    )
    rows: list[tuple[str, str, str, str, str]] = []
    rates: dict[int, list[float]] = {clients: [] for clients in client_counts}
    for round_number in range(1, args.rounds + 1):
        for clients, (rate, tally) in one_round(args.repo, body, client_counts, args.seconds).items():
            rates[clients].append(rate)
            rows.append(
                (
                    f"round {round_number}, {clients} clients",
                    f"{rate:.1f}/s",
                    f"{percentile(tally.latencies, 0.5) * 1000:.1f} ms",
                    f"{percentile(tally.latencies, 0.99) * 1000:.1f} ms",
                    f"{len(tally.latencies)} sent, {len(tally.failures)} not 202"
                    + (f" (first: {tally.failures[0]})" if tally.failures else ""),
                )
            )
    if args.rounds > 1:
        for clients, values in rates.items():
            rows.append((f"median, {clients} clients", f"{statistics.median(values):.1f}/s", "", "", ""))
    engine_bench.print_table(
        ("JSON submissions", "rate", "p50", "p99", "notes"), rows, (False, True, True, True, False)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
