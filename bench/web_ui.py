"""The web UI's Jobs page with 1,000 jobs: time to interactive in headless Chromium.

Seeds ``--jobs`` speech-to-text jobs into a fresh ``sauti serve --workers 0`` (they stay queued),
then opens ``/#/jobs`` ``--repeat`` times in Debian's Chromium (Playwright, ``executable_path``) and
reads the ``sauti:jobs-interactive`` mark, which the page sets once its first cursor page is
rendered and its handlers are attached, as milliseconds since navigation start. Target: < 300 ms.

    .venv/bin/python bench/web_ui.py [--jobs 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import openai_overhead as overhead  # noqa: E402

MARK = "sauti:jobs-interactive"


def clip() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(8000, dtype=np.float32), 16_000, format="WAV")
    return buffer.getvalue()


def seed(base_url: str, count: int) -> None:
    audio = clip()

    def one(index: int) -> None:
        response = httpx.post(
            f"{base_url}/v1/speech-to-text/jobs",
            files={"file": (f"clip-{index:04d}.wav", audio, "audio/wav")},
            data={"title": f"Seeded job {index}"},
            timeout=60,
        )
        response.raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))


def measure(base_url: str, repeat: int) -> list[dict[str, float]]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("bench/web_ui.py: needs Debian's chromium (scripts/setup installs it)")
    figures = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        for _ in range(repeat + 1):  # the first load warms the caches: not counted
            page = context.new_page()
            page.goto(f"{base_url}/#/jobs")
            page.wait_for_selector("main[data-ready='jobs']")
            figures.append(
                page.evaluate(
                    """name => {
                      const nav = performance.getEntriesByType('navigation')[0];
                      return {
                        interactive: performance.getEntriesByName(name)[0].startTime,
                        dom_content_loaded: nav.domContentLoadedEventEnd,
                        rows: document.querySelectorAll('tbody tr[data-stream]').length,
                      };
                    }""",
                    MARK,
                )
            )
            page.close()
        browser.close()
    return figures[1:]


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sauti-bench-ui-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        with overhead.running_server(data_dir, workers=0) as base_url:
            seed(base_url, args.jobs)
            total = httpx.get(f"{base_url}/v1/jobs", params={"limit": 500}, timeout=30).json()
            print(f"seeded {args.jobs} jobs (first page of /v1/jobs: {len(total['records'])} of them)")
            figures = measure(base_url, args.repeat)
    interactive = [f["interactive"] for f in figures]
    print(f"rows rendered: {int(figures[0]['rows'])} (the first cursor page)")
    print(f"DOMContentLoaded: median {statistics.median(f['dom_content_loaded'] for f in figures):.0f} ms")
    print(
        f"Jobs page interactive: median {statistics.median(interactive):.0f} ms,"
        f" best {min(interactive):.0f} ms, worst {max(interactive):.0f} ms (target < 300 ms)"
    )


if __name__ == "__main__":
    main()
