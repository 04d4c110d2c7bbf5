"""Transcript segments benchmark: what appending one ``transcription.segment_transcribed`` event
costs at segment 1, 500, 1,000 and 2,000 of one record (issue 11: it must not grow).

Runs against a fresh temporary data directory holding a real SQLite database migrated by Alembic,
with the production projection registry inline (``app.bootstrap``): the time of each append is the
time its transaction holds the database-wide write lock, the ``stt_records`` projection included.
Each figure is the mean (and median) over a window of appends around that segment. Then: reading
the whole record back (``GET /v1/speech-to-text/jobs/<id>``'s query) and a page of records.

    .venv/bin/python bench/segments.py [--segments 2000] [--window 50] [--words 14]

It uses only what the store had before issue 11, so it also measures an older tree: copy it there
and run it from there (it imports the tree it sits in), e.g.

    git archive <commit> | tar -x -C /tmp/old && cp bench/segments.py /tmp/old/bench/
    (cd /tmp/old && /path/to/.venv/bin/python bench/segments.py)

The figures are figures, not a test: the script exits 0 whatever they are.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The tree it sits in comes first, before bench/ itself (whose eventstore.py is not the package)
# and before any other checkout a virtualenv or PYTHONPATH names.
sys.path[:] = [str(REPO_ROOT), *(p for p in sys.path if p not in (str(REPO_ROOT), str(REPO_ROOT / "bench")))]

import sqlalchemy  # noqa: E402

from app.bootstrap import build_projections, build_upcasters  # noqa: E402
from app.projections.stt_record_queries import find_record, records_page  # noqa: E402
from domain.stt_records import JOB_KINDS  # noqa: E402
from domain.transcription import (  # noqa: E402
    TRANSCRIPTION,
    LanguageDetected,
    SegmentTranscribed,
    TranscriptionParams,
    WordTiming,
)
from eventstore.db import make_engine, sqlite_url  # noqa: E402
from eventstore.sql import SqlEventStore  # noqa: E402
from migrations.api import upgrade  # noqa: E402
from workflows.jobs import JobRun, JobService, to_new_event  # noqa: E402

CATEGORY = "transcription"
MARKS = (1, 500, 1000, 2000)
WORDS = ("ask", "not", "what", "your", "country", "can", "do", "for", "you")


class _NoDispatch:
    def dispatch(self, tx: object, actor_name: str, stream_id: str, message_id: str) -> None:
        pass


def segment(index: int, words: int) -> SegmentTranscribed:
    """A segment of ``words`` words, 3 s long, with word timings (as faster-whisper gives them)."""
    start = index * 3.0
    said = [WORDS[(index + i) % len(WORDS)] for i in range(words)]
    step = 3.0 / words
    timings = tuple(
        WordTiming(word=f" {word}", start=start + i * step, end=start + (i + 0.8) * step, probability=0.93)
        for i, word in enumerate(said)
    )
    return SegmentTranscribed(
        id=index, start=start, end=start + 3.0, text=" " + " ".join(said), words=timings
    )


def tree_label() -> str:
    """The commit the benchmarked tree is at, when it is a git checkout."""
    try:
        found = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return f"{REPO_ROOT} (not a git checkout)"
    return found.stdout.strip()[:100]


def window_of(mark: int, window: int, total: int) -> range:
    """The segment numbers (1-based) of the window around ``mark``, within ``1..total``."""
    first = min(max(1, mark - window // 2), max(1, total - window + 1))
    return range(first, min(total, first + window - 1) + 1)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]
    print(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    )
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for row in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def timed(function: Callable[[], object], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return timings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--segments", type=int, default=2000, help="segments appended to the one record")
    parser.add_argument("--window", type=int, default=50, help="appends averaged around each mark")
    parser.add_argument("--words", type=int, default=14, help="words per segment")
    parser.add_argument(
        "--read-runs", type=int, default=9, help="timed reads of the record (median reported)"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="parent of the temporary data directory")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="sauti-bench-segments-", dir=args.data_dir))
    try:
        print("Sauti transcript segments benchmark")
        print(f"  tree        {tree_label()}")
        print(f"  imports     {Path(sys.modules['app'].__file__ or '').parent.parent}")
        print(f"  cpus        {os.cpu_count()}")
        print(f"  python      {platform.python_version()} ({platform.python_implementation()})")
        print(f"  sqlite      {sqlite3.sqlite_version}")
        print(f"  sqlalchemy  {sqlalchemy.__version__}")
        load = os.getloadavg()
        print(f"  load avg    {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min)")
        print()

        url = sqlite_url(data_dir / "sauti.db")
        upgrade(url)
        engine = make_engine(url)
        store = SqlEventStore(engine, projector=build_projections(), upcasters=build_upcasters())
        params = TranscriptionParams(audio="ab" * 32, model="bench", record=True, title="Bench")
        stream_id = JobService(store, _NoDispatch()).submit(TRANSCRIPTION, params, job_id="bench")
        run = JobRun(store, stream_id, message_id="m1", worker="bench")
        assert run.begin()
        run.append(LanguageDetected(language="en", duration=args.segments * 3.0 + 1.0))
        version = run.version
        planned = [to_new_event(CATEGORY, segment(i, args.words)) for i in range(args.segments)]

        costs: list[float] = []
        for event in planned:
            started = time.perf_counter()
            store.append(stream_id, [event], version)
            costs.append(time.perf_counter() - started)
            version += 1

        marks = [mark for mark in MARKS if mark <= args.segments] or [args.segments]
        rows = []
        for mark in marks:
            window = window_of(mark, args.window, args.segments)
            values = costs[window.start - 1 : window.stop - 1]
            rows.append(
                [
                    f"~{mark}",
                    f"{window.start}-{window.stop - 1}",
                    fmt_ms(statistics.fmean(values)),
                    fmt_ms(statistics.median(values)),
                    fmt_ms(max(values)),
                ]
            )
        print(
            f"1. Append of one segment_transcribed ({args.words} words) to one record, "
            f"{args.segments} in all (ms per append)"
        )
        print_table(["segment", "window", "mean ms", "median ms", "max ms"], rows)
        first = statistics.fmean(costs[: args.window])
        last = statistics.fmean(costs[-args.window :])
        print(f"   last window / first window: {last / first:.2f}x; all {args.segments}: {sum(costs):.2f} s")
        print()

        reads = timed(lambda: find_record(engine, "bench", JOB_KINDS), args.read_runs)
        pages = timed(lambda: records_page(engine, JOB_KINDS, None, 50), args.read_runs)
        record = find_record(engine, "bench", JOB_KINDS)
        assert record is not None
        print(f"2. Reads of the {args.segments}-segment record ({args.read_runs} runs, median)")
        print(f"   the record, with its segments and text   {fmt_ms(statistics.median(reads))} ms")
        print(f"   a page of records (its text included)    {fmt_ms(statistics.median(pages))} ms")
        print(f"   text {len(record['text'] or '')} chars, segments JSON {len(record['segments'])} chars")
        engine.dispose()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
