"""The Speech and Models pages in Chromium: synthesize and play; an API error in words; download a
model from the local hub with a live bar."""

from __future__ import annotations

import pytest

from tests.e2e.browser.conftest import HUB_MODEL, Browsing
from tests.e2e.conftest import SautiServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_synthesize_speech_and_play_it(ui: Browsing) -> None:
    page = ui.open("/#/speech")
    page.wait_for_selector("main[data-ready='speech']")
    page.fill("#tts-text", "Hello from the Sauti web interface.")
    page.fill("#tts-speed", "1.1")
    page.click("#tts-submit")
    page.wait_for_selector("#tts-audio", timeout=120_000)
    page.wait_for_function(
        "() => { const a = document.querySelector('#tts-audio');"
        " return a.readyState >= 1 && a.duration > 0; }"
    )
    assert page.evaluate("document.querySelector('#tts-audio').duration") > 0.5
    page.evaluate("document.querySelector('#tts-audio').play()")
    page.wait_for_function("() => document.querySelector('#tts-audio').currentTime > 0")
    page.wait_for_selector("#speech-history .history-item:has-text('Hello from the Sauti web interface.')")
    ui.shot("speech")


def test_an_api_error_is_shown_in_words(ui: Browsing) -> None:
    page = ui.open("/#/speech")
    page.wait_for_selector("main[data-ready='speech']")
    page.fill("#tts-text", "Who is speaking?")
    page.fill("#tts-voice", "nobody-here")
    page.click("#tts-submit")
    notice = page.locator(".notice.error")
    notice.wait_for()
    text = notice.inner_text()
    assert "field “voice”" in text  # which field, in words
    assert "Unknown voice 'nobody-here'" in text  # the server's own message
    assert "Change what was sent" in text  # what to do about it
    ui.shot("api-error")


def test_download_a_model_from_the_hub_with_a_moving_bar(ui: Browsing, ui_server: SautiServer) -> None:
    page = ui.open("/#/models")
    page.wait_for_selector("main[data-ready='models']")
    card = page.locator(f"article[data-variant='{HUB_MODEL}']")
    card.wait_for()
    ui.shot("models")
    card.locator("button[data-action='download']").click()
    bar = f"article[data-variant='{HUB_MODEL}'] [role=progressbar]"
    page.wait_for_function(
        "s => { const b = document.querySelector(s); const v = b && Number(b.getAttribute('aria-valuenow'));"
        " return v > 0 && v < 100; }",
        arg=bar,
    )
    ui.shot("models-downloading")
    page.wait_for_selector(f"article[data-variant='{HUB_MODEL}'] [data-status='downloaded']", timeout=60_000)
    with ui_server.client() as api:
        assert api.get(f"/v1/admin/models/{HUB_MODEL}").json()["status"] == "downloaded"
    # Downloaded, not bundled: it can be deleted again.
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("button[data-action='delete']").click()
    page.wait_for_selector(f"article[data-variant='{HUB_MODEL}'] [data-status='not_downloaded']")
