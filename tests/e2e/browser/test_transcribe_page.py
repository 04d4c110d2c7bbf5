"""The Transcribe page in Chromium: upload jfk.flac, watch the bar reach 100 %, read, play, edit
and export the transcript; diarize the stereo fixture's mono mix and see one lane per speaker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import FIXTURES
from tests.e2e.browser.conftest import Browsing
from tests.e2e.conftest import SautiServer, stream_events, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

JFK = FIXTURES / "audio" / "jfk.flac"
STEREO = FIXTURES / "audio" / "stereo_diarization.wav"


def submit(ui: Browsing, audio: Path, kind: str = "transcription", title: str | None = None) -> str:
    page = ui.open("/#/transcribe")
    page.wait_for_selector("main[data-ready='transcribe']")
    page.set_input_files("#audio-file", str(audio))
    page.check(f"input[name='job_kind'][value='{kind}']")
    if title:
        page.fill("#stt-title", title)
    ui.shot(f"transcribe-form-{kind}")
    page.click("#stt-submit")
    page.wait_for_url("**/#/transcribe/*")
    page.wait_for_selector("main[data-ready='record']")
    return str(page.url.rsplit("/", 1)[1])


def test_upload_jfk_and_read_play_edit_export_the_transcript(ui: Browsing, ui_server: SautiServer) -> None:
    record_id = submit(ui, JFK)
    page = ui.page
    page.wait_for_selector("#job-progress output:text-is('100 %')", timeout=120_000)
    page.wait_for_selector("#transcript:has-text('ask not what your country can do for you')")
    ui.shot("transcribe-record")

    # Click a word: the audio seeks to it, and that word is highlighted.
    word = page.locator("#transcript .word", has_text="country").first
    start = float(word.get_attribute("data-start") or 0)
    page.wait_for_function("() => document.querySelector('#record-audio').readyState >= 1")
    word.click()
    page.wait_for_function(
        "t => Math.abs(document.querySelector('#record-audio').currentTime - t) < 1.0", arg=start
    )
    page.wait_for_selector("#transcript .word.now")

    # Edit the title: stored as the record's title.
    page.fill("#record-title", "JFK inaugural")
    page.press("#record-title", "Enter")
    with ui_server.client() as api:
        wait_until(
            lambda: api.get(f"/v1/speech-to-text/jobs/{record_id}").json()["title"] == "JFK inaugural",
            10,
            "the new title",
        )

    # Exports, built from the record.
    for format, expected in (("txt", "ask not"), ("srt", "-->"), ("vtt", "WEBVTT"), ("json", record_id)):
        with page.expect_download() as info:
            page.click(f"button[data-export='{format}']")
        path = info.value.path()
        assert expected in Path(path).read_text(), format
        assert info.value.suggested_filename == f"JFK_inaugural.{format}"

    # The Jobs page reruns it (the contract's reruns route) and shows the new run to its end.
    page.goto(f"{ui_server.base_url}/#/jobs")
    row = f"tr[data-stream='transcription-{record_id}']"
    page.click(f"{row} button:has-text('Rerun')")
    with ui_server.client() as api:

        def second_run_done() -> bool:
            record = api.get(f"/v1/speech-to-text/jobs/{record_id}").json()
            return bool(record["run"] == 2 and record["processing_status"] == "ready")

        wait_until(second_run_done, 120, "the second run to finish")
        events = stream_events(api, f"transcription-{record_id}")
    assert [e["type"] for e in events].count("transcription.completed") == 2
    # Once the feed has delivered the second run's end, the row shows it.
    page.wait_for_function("p => window.sauti.feed.last >= p", arg=events[-1]["position"])
    page.wait_for_selector(f"{row}[data-status='completed'] a:has-text('Open')")


def test_diarize_the_mono_mix_and_see_two_lanes(ui: Browsing, tmp_path: Path) -> None:
    samples, rate = sf.read(STEREO)
    mono = tmp_path / "mono_mix.wav"
    sf.write(mono, np.mean(samples, axis=1), rate)
    submit(ui, mono, kind="diarization")
    page = ui.page
    page.wait_for_selector("#timeline .lane", timeout=120_000)
    assert page.locator("#timeline .lane").count() == 2
    assert page.locator("#timeline .turn").count() >= 2
    # Rename a speaker: the lane shows the new name.
    page.fill("#name-SPEAKER_00", "Alice")
    page.click(".speaker-row:has(#name-SPEAKER_00) button")
    page.wait_for_selector("#timeline .lane-name:text-is('Alice')")
    for speaker in ("SPEAKER_00", "SPEAKER_01"):  # each lane keeps its turns after the rename
        assert page.locator(f"#timeline .lane[data-speaker='{speaker}'] .turn").count() >= 1
    ui.shot("diarization-timeline")


def test_regenerate_the_summary(ui: Browsing, ui_server: SautiServer) -> None:
    """Last in the suite: the summary is the slowest job (the local chat model), and the test
    needs only its first words to stream in."""
    with ui_server.client() as api:
        records = api.get("/v1/speech-to-text/jobs", params={"job_kind": "transcription"}).json()["records"]
    ready = next(r for r in records if r["processing_status"] == "ready")
    page = ui.open(f"/#/transcribe/{ready['id']}")
    page.wait_for_selector("main[data-ready='record']")
    page.wait_for_selector("#summary-regenerate")
    page.click("#summary-regenerate")
    page.wait_for_selector("#summary:has-text('Still writing'), #summary:has-text('Writing the summary')")
    # The summary streams into the record's events; the page shows its words as they come.
    page.wait_for_function(
        "() => { const s = document.querySelector('#summary'); const first = s && s.firstChild;"
        " return first && first.nodeType === Node.TEXT_NODE && first.textContent.trim(); }",
        timeout=150_000,
    )
    ui.shot("transcribe-summary")
