"""A scaled-out Sauti under fire: one web process and three ``sauti worker`` processes on
Postgres + Redis (throw-away servers), 200 mixed jobs (probe jobs of varied length, eSpeak-NG
speech, SmolLM2 chat), first uninterrupted, then again with a random worker SIGKILLed every few
seconds and restarted. Prints jobs/s, the slowest job's delay, how long after a kill the killed
worker's job started again, and every way the interrupted run differs from the uninterrupted one
(a job that did not end exactly once, an event lost or repeated): there must be none.

    .venv/bin/python bench/cluster.py [--jobs 200] [--workers 3] [--kill-every 3] [--lease 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.cluster import Cluster, Outcome, mixed_jobs, problems  # noqa: E402


def _summary(name: str, outcome: Outcome) -> None:
    latencies = sorted(outcome.latency(stream) for stream in outcome.streams)
    print(
        f"{name:>13}: {len(outcome.streams)} jobs in {outcome.finished - outcome.started:6.1f} s = "
        f"{outcome.jobs_per_second:5.2f} jobs/s; submission to end: "
        f"median {statistics.median(latencies):5.1f} s, "
        f"slowest {latencies[-1]:5.1f} s; {len(outcome.kills)} workers killed"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--lease", type=float, default=5.0, help="SAUTI_BROKER_LEASE_SECONDS")
    args = parser.parse_args()

    jobs = mixed_jobs(args.jobs)
    with tempfile.TemporaryDirectory(prefix="sauti-cluster-") as base:
        with Cluster(Path(base) / "calm", workers=args.workers, lease_seconds=args.lease) as cluster:
            baseline = cluster.run(jobs)
        with Cluster(Path(base) / "chaos", workers=args.workers, lease_seconds=args.lease) as cluster:
            chaos = cluster.run(jobs, kill_every=args.kill_every)
    print(
        f"{args.workers} workers on Postgres + Redis, lease {args.lease:g} s, "
        f"a worker killed every {args.kill_every:g} s"
    )
    _summary("uninterrupted", baseline)
    _summary("with kills", chaos)
    slowdown = max(
        chaos.latency(a) - baseline.latency(b) for a, b in zip(chaos.streams, baseline.streams, strict=True)
    )
    print(f"slowest job's extra delay from the kills: {slowdown:.1f} s")
    redeliveries = sorted(chaos.redeliveries())
    if redeliveries:
        print(
            f"kill to the next start of the killed worker's job: {len(redeliveries)} jobs, "
            f"median {statistics.median(redeliveries):.1f} s, max {redeliveries[-1]:.1f} s "
            f"(lease {args.lease:g} s)"
        )
    found = problems(chaos, baseline)
    lost = sum("ended" in problem for problem in found)
    print(f"jobs not ended exactly once: {lost}; events lost or repeated: {len(found) - lost}")
    for problem in found[:20]:
        print("  " + problem)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
