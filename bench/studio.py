"""Studio render speed and memory, through a real ``sauti serve`` with one worker, against Piper
called directly on the same segments.

After a warm-up render (the model loads), a project of ``--words`` words is created, rendered,
rendered again after one segment is edited, and exported as WAV (read to the end). It prints the
render's real-time factor against Piper's on the same spoken texts (the ratio the issue bounds at
1.10), the re-render's time, the export's time, and the peak resident memory (VmHWM) of the web
and worker processes.

    .venv/bin/python bench/studio.py [--words 1000] [--no-direct]

``--no-direct`` skips Piper called directly (for the memory figure of a long project, whose
direct render would take as long again).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import openai_overhead as overhead  # noqa: E402

engine_bench = overhead.engine_bench
PROJECTS = "/v1/studio/projects"
SUBJECTS = ("The old lighthouse", "A quiet river", "Our small team", "The evening train", "My neighbour")
VERBS = ("watched", "carried", "followed", "remembered", "described")
OBJECTS = ("the distant hills", "a bag of letters", "the long road home", "every passing boat", "the storm")
ENDINGS = ("before the sun went down.", "with great care.", "for many years.", "without a word.", "again.")


def project_text(words: int, seed: int = 7) -> str:
    """Paragraphs of four to six sentences, about ``words`` words in all."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    count = 0
    while count < words:
        sentences = [
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ENDINGS)}"
            for _ in range(rng.randint(4, 6))
        ]
        paragraphs.append(" ".join(sentences))
        count += sum(len(sentence.split()) for sentence in sentences)
    return "\n\n".join(paragraphs)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sauti_pids(port: int) -> dict[str, int]:
    """The web process serving ``port`` and its worker processes."""
    web = int(
        subprocess.run(
            ["pgrep", "-f", f"serve --port {port}"], capture_output=True, text=True
        ).stdout.split()[0]
    )
    children = subprocess.run(["pgrep", "-P", str(web)], capture_output=True, text=True).stdout.split()
    return {"web": web, **{f"worker {index}": int(pid) for index, pid in enumerate(children, 1)}}


def render(client: httpx.Client, project_id: str) -> tuple[float, dict[str, Any]]:
    """Seconds from the request to the job's end, followed over SSE (polling would take CPU from
    the engine), and the job's result."""
    started = time.perf_counter()
    job = client.post(f"{PROJECTS}/{project_id}/render-jobs", json={}).raise_for_status().json()
    headers = {"Accept": "text/event-stream"}
    with client.stream("GET", f"{job['events_url']}?until=terminal", headers=headers) as events:
        for _ in events.iter_lines():
            pass
    elapsed = time.perf_counter() - started
    jobs = client.get(f"{PROJECTS}/{project_id}/render-jobs").raise_for_status().json()["data"]
    row = next(j for j in jobs if j["id"] == job["id"])
    if row["status"] not in ("completed", "stale"):
        raise RuntimeError(f"the render ended {row['status']}: {row['error']}")
    return elapsed, row["result"]


def download(client: httpx.Client, path: str) -> tuple[int, float]:
    """Bytes read to the end of the response, and the seconds it took."""
    started = time.perf_counter()
    size = 0
    with client.stream("GET", path) as response:
        for block in response.iter_bytes():
            size += len(block)
    return size, time.perf_counter() - started


def direct_seconds(texts: list[str]) -> float:
    engine = overhead.piper_direct()
    for _ in engine.synthesize(texts[0]):  # load and warm, as the worker's first segment does
        pass
    started = time.perf_counter()
    for text in texts:
        for _ in engine.synthesize(text):
            pass
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--no-direct", action="store_true", help="skip Piper called directly")
    args = parser.parse_args(argv)
    text = project_text(args.words)
    print(f"words={len(text.split())}, cpus={engine_bench.usable_cpus()}, cpu={engine_bench.cpu_model()}")
    with (
        tempfile.TemporaryDirectory() as tmp,
        # The diarizer's warm-up at worker start would share the CPU with the first render.
        overhead.running_server(Path(tmp) / "data", env_extra={"SAUTI_WARM_DIARIZER": "false"}) as base_url,
        httpx.Client(base_url=base_url, timeout=600) as client,
    ):
        warm = {"name": "Warm-up", "text": "The engine loads here.", "model": overhead.TTS_MODEL}
        render(client, client.post(PROJECTS, json=warm).raise_for_status().json()["id"])
        body = {"name": "Bench", "text": text, "model": overhead.TTS_MODEL}
        project = client.post(PROJECTS, json=body).raise_for_status().json()
        segments = project["segments"]
        served, result = render(client, project["id"])
        duration = result["duration_secs"]
        first = segments[0]
        client.patch(f"{PROJECTS}/{project['id']}/segments/{first['id']}", json={"text": "A new beginning."})
        again, again_result = render(client, project["id"])
        size, exported = download(client, f"{PROJECTS}/{project['id']}/audio?format=wav")
        compressed, mp3_seconds = download(client, f"{PROJECTS}/{project['id']}/audio?format=mp3")
        peaks = {name: peak_rss_mb(pid) for name, pid in sauti_pids(int(base_url.rpartition(":")[2])).items()}
    print(f"segments={len(segments)}, audio={duration:.1f} s")
    print(f"render, served:  {served:7.2f} s  RTF {served / duration:.3f}")
    if not args.no_direct:
        direct = direct_seconds([segment["spoken_text"] for segment in segments])
        print(f"Piper, direct:   {direct:7.2f} s  RTF {direct / duration:.3f}")
        print(f"served / direct: {served / direct:.3f} (target at most 1.10)")
    print(
        f"edit one segment and render again: {again:.2f} s, synthesized {len(again_result['synthesized'])}, "
        f"reused {again_result['reused']}"
    )
    print(
        f"export: {size / 1e6:.1f} MB of WAV in {exported:.2f} s, "
        f"{compressed / 1e6:.1f} MB of mp3 in {mp3_seconds:.2f} s"
    )
    print("peak resident memory: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in peaks.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
