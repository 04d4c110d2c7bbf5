"""The shell and the Jobs page in Chromium: live rows from the event feed, and a dropped SSE
connection that resumes with Last-Event-ID and misses nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.browser.conftest import Browsing
from tests.e2e.conftest import JobSubmitter, SautiServer, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_the_shell_serves_every_page_and_leaves_the_api_alone(ui: Browsing, ui_server: SautiServer) -> None:
    page = ui.open("/#/jobs")
    page.wait_for_selector("main[data-ready='jobs']")
    nav = page.locator("#nav a").all_inner_texts()
    assert [text.strip() for text in nav] == [
        "Jobs",
        "Transcribe",
        "Speech",
        "Studio",
        "Chat",
        "Voice",
        "Models",
        "Audit",
        "Welcome",
    ]
    page.wait_for_selector("#statusbar [data-status='workers']:has-text('1 worker alive')")
    # The API is untouched by the UI's routes: an unknown /v1 path stays a JSON 404.
    unknown = httpx.post(f"{ui_server.base_url}/v1/no-such-route", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "404"
    for path in ("/#/transcribe", "/#/speech", "/#/models", "/#/audit", "/#/welcome"):
        page.goto(f"{ui_server.base_url}{path}")
        name = path.removeprefix("/#/")
        page.wait_for_selector(f"main[data-ready='{name}']")
        ui.shot(f"page-{name}")
    page.emulate_media(color_scheme="dark")
    page.goto(f"{ui_server.base_url}/#/transcribe")
    page.wait_for_selector("main[data-ready='transcribe']")
    ui.shot("page-transcribe-dark")


def test_jobs_appear_and_progress_live(ui: Browsing, ui_server: SautiServer, jobs: JobSubmitter) -> None:
    page = ui.open("/#/jobs")
    page.wait_for_selector("main[data-ready='jobs']")
    stream_id = jobs.probe(ui_server.data_dir, steps=5, step_seconds=0.4)
    row = page.locator(f"tr[data-stream='{stream_id}']")
    row.wait_for()
    # The bar moves with the progress events, then the job completes, all without a reload.
    page.wait_for_function(
        "s => { const r = document.querySelector(`tr[data-stream='${s}'] [role=progressbar]`);"
        " const v = r && Number(r.getAttribute('aria-valuenow')); return v > 0 && v < 100; }",
        arg=stream_id,
    )
    page.wait_for_selector(f"tr[data-stream='{stream_id}'][data-status='completed']")
    assert row.locator("output").inner_text() == "100 %"
    ui.shot("jobs-live")
    page.locator(f"tr[data-stream='{stream_id}'] a:has-text('Audit trail')").click()
    page.wait_for_selector("main[data-ready='audit']")
    page.wait_for_selector("details.event:has-text('probe.completed')")
    types = page.locator("details.event .type").all_inner_texts()
    assert types[0] == "probe.requested" and types[-1] == "probe.completed"
    ui.shot("audit-stream")


def test_a_dropped_feed_resumes_and_misses_nothing(
    ui: Browsing, ui_server: SautiServer, jobs: JobSubmitter
) -> None:
    page = ui.open("/#/jobs")
    page.wait_for_selector("main[data-ready='jobs']")
    page.wait_for_function("() => window.sauti && window.sauti.feed.last !== null")
    start = page.evaluate("window.sauti.feed.last")
    page.evaluate("window.__seen = []; window.sauti.feed.on(e => window.__seen.push(e.position)); null")
    # Cut the connection and stay off while jobs run (an outage): their events happen unseen.
    page.evaluate("window.sauti.feed.drop(600000)")
    page.wait_for_function("() => window.sauti.feed.stream.state === 'reconnecting'")
    ids = [jobs.probe(ui_server.data_dir, steps=3, step_seconds=0.1) for _ in range(3)]
    with ui_server.client() as api:
        wait_until(
            lambda: all(
                api.get("/v1/jobs", params={"limit": 20}).json()["records"][i]["status"] == "completed"
                for i in range(3)
            ),
            60,
            "the three probe jobs to complete",
        )
        expected = [
            event["position"]
            for event in api.get("/v1/events", params={"after": start, "limit": 500}).json()["records"]
        ]
    assert page.evaluate("window.__seen.length") == 0
    # Back on: it reconnects with Last-Event-ID, and gets exactly what it missed, in order.
    page.evaluate("window.sauti.feed.resume()")
    page.wait_for_function("n => window.__seen.length >= n", arg=len(expected), timeout=30_000)
    page.wait_for_timeout(500)
    assert page.evaluate("window.__seen") == expected
    for stream_id in ids:
        page.wait_for_selector(f"tr[data-stream='{stream_id}'][data-status='completed']")


def test_a_refresh_asked_for_while_one_runs_runs_once_more_after_it(ui: Browsing) -> None:
    """Pages re-read a record on its events (live.js ``rerunner``). A read still in flight when the
    next event lands started before that event, so it must not stand for the new read: once a
    diarization record page stayed on "processing" because its "completed" event joined a read
    begun on the event before."""
    page = ui.open("/#/jobs")
    page.wait_for_selector("main[data-ready='jobs']")
    runs = page.evaluate(
        """async () => {
            const app = document.querySelector("script[type='module']").src;  // /ui/<version>/app.js
            const { rerunner } = await import(new URL("live.js", app).href);
            const started = [];
            let release = null;
            const refresh = rerunner(async () => {
                started.push(performance.now());
                await new Promise((resolve) => { release = resolve; });
            });
            const asked = [refresh(), refresh(), refresh()];  // two asks while the first read runs
            const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
            release(); await settle();
            release(); await Promise.all(asked);
            const afterwards = refresh(); await settle(); release(); await afterwards;
            return started.length;
        }"""
    )
    assert runs == 3  # the first, one more for both asks made meanwhile, and the later one
