"""The pages' other actions in Chromium: record from the (fake) microphone; watch a long
transcription's bar move on the Jobs page and cancel it there; load and unload a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import FIXTURES
from tests.e2e.browser.conftest import Browsing
from tests.e2e.browser.test_transcribe_page import submit
from tests.e2e.conftest import SautiServer, stream_events, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

JFK = FIXTURES / "audio" / "jfk.flac"
TTS_MODEL = "Piper-Joe-Medium"


def test_record_from_the_microphone_and_transcribe_it(ui: Browsing, ui_server: SautiServer) -> None:
    """Chromium's fake capture device (a tone): the recording is uploaded as WebM and decoded."""
    page = ui.open("/#/transcribe")
    page.wait_for_selector("main[data-ready='transcribe']")
    record = page.locator("button:has-text('Record from microphone')")
    record.click()
    page.wait_for_selector("button.rec-on:has-text('Stop recording')")
    page.wait_for_timeout(2500)
    page.click("button.rec-on")
    page.wait_for_selector("text=/recording-.*\\.webm/")
    page.fill("#stt-title", "Dictated")
    page.click("#stt-submit")
    page.wait_for_url("**/#/transcribe/*")
    record_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#job-progress output:text-is('100 %')", timeout=120_000)
    with ui_server.client() as api:
        stored = api.get(f"/v1/speech-to-text/jobs/{record_id}").json()
    assert stored["processing_status"] == "ready" and stored["title"] == "Dictated"
    assert 1.5 < stored["duration"] < 4.0  # what was recorded, decoded from WebM/Opus
    ui.shot("transcribe-microphone")


def test_a_long_transcription_moves_its_bar_and_is_cancelled_from_the_jobs_page(
    ui: Browsing, ui_server: SautiServer, tmp_path: Path
) -> None:
    samples, rate = sf.read(JFK, dtype="float32")
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    gap = np.zeros(rate, dtype=samples.dtype)
    long = tmp_path / "jfk_x12.wav"
    sf.write(long, np.concatenate([np.concatenate([samples, gap]) for _ in range(12)]), rate)
    record_id = submit(ui, long, title="To be cancelled")
    page = ui.page
    page.goto(f"{ui_server.base_url}/#/jobs")
    row = f"tr[data-stream='transcription-{record_id}']"
    # Progress events arrive as segments are decoded: the bar moves before the job ends.
    page.wait_for_function(
        "s => { const b = document.querySelector(`${s} [role=progressbar]`);"
        " const v = b && Number(b.getAttribute('aria-valuenow')); return v > 0 && v < 100; }",
        arg=row,
        timeout=120_000,
    )
    ui.shot("jobs-transcription-progress")
    page.click(f"{row} button:has-text('Cancel')")
    page.wait_for_selector(f"{row}[data-status='cancelled']", timeout=60_000)
    with ui_server.client() as api:
        events = [e["type"] for e in stream_events(api, f"transcription-{record_id}")]
        assert events[-2:] == ["transcription.cancel_requested", "transcription.cancelled"]
        assert "transcription.completed" not in events
        assert api.get(f"/v1/speech-to-text/jobs/{record_id}").json()["processing_status"] == "cancelled"
    # Ended: it may be run again, not cancelled again.
    page.wait_for_selector(f"{row} button:has-text('Rerun')")
    assert page.locator(f"{row} button:has-text('Cancel')").count() == 0


def test_load_and_unload_a_model_from_the_models_page(ui: Browsing, ui_server: SautiServer) -> None:
    page = ui.open("/#/models")
    page.wait_for_selector("main[data-ready='models']")
    card = f"article[data-variant='{TTS_MODEL}']"
    page.wait_for_selector(card)

    def loaded_workers() -> list[str]:
        with ui_server.client() as api:
            return list(api.get(f"/v1/admin/models/{TTS_MODEL}").json().get("loaded_workers") or [])

    if loaded_workers():  # an earlier test used it: start from unloaded
        page.click(f"{card} button[data-action='unload']")
        wait_until(lambda: not loaded_workers(), 60, "the model to be unloaded")
        page.wait_for_selector(f"{card} button[data-action='load']")
    page.click(f"{card} button[data-action='load']")
    page.wait_for_selector(f"{card} [data-status='ready']", timeout=60_000)
    page.wait_for_selector(f"{card} button[data-action='unload']")
    assert loaded_workers()
    ui.shot("models-loaded")
    page.click(f"{card} button[data-action='unload']")
    page.wait_for_selector(f"{card} button[data-action='load']", timeout=60_000)
    assert not loaded_workers()
