"""The Chat and Voice pages in Chromium: a thread whose reply streams in, an audio attachment read as
its transcript, an agent session that searches the recordings and cites one; a voice session
answered in speech (typed, and from a spoken file), memory remembered and forgotten, the export."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.e2e.browser.conftest import Browsing
from tests.e2e.conftest import SautiServer, wait_for_terminal

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

JFK = FIXTURES / "audio" / "jfk.flac"
LONG = 120_000


def test_a_thread_streams_its_reply_and_reads_an_attachment(ui: Browsing) -> None:
    page = ui.open("/#/chat")
    page.wait_for_selector("main[data-ready='chat']")
    page.click("#chat-new")
    page.wait_for_selector("#chat-thread[data-ready='thread']")
    page.fill("#chat-input", "Say hello in three words.")
    page.press("#chat-input", "Enter")
    page.wait_for_selector("#chat-thread[data-replies='1']", timeout=LONG)
    reply = page.locator("#chat-messages .message[data-role='assistant'] .bubble-text").first
    assert reply.inner_text().strip()
    page.wait_for_selector("#chat-title:not(:text-is('New chat'))")
    thread_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector(f"#chat-threads [data-thread='{thread_id}']")

    page.set_input_files("#chat-attach", str(JFK))
    page.fill("#chat-input", "What does this recording ask?")
    page.click("#chat-send")
    page.wait_for_selector("#chat-thread[data-replies='2']", timeout=LONG)
    heard = page.locator("#chat-messages .message[data-role='user'] .attachment").first.inner_text()
    assert "ask not what your country" in heard.lower()
    assert page.locator("#chat-messages .message[data-role='assistant']").count() == 2
    ui.shot("chat-thread")


def test_an_agent_session_searches_the_recordings_and_cites_one(ui: Browsing, ui_server: SautiServer) -> None:
    with ui_server.client(timeout=60) as api:
        body = {"audio_base64": base64.b64encode(JFK.read_bytes()).decode(), "title": "Inaugural address"}
        record = api.post("/v1/speech-to-text/jobs", json=body).json()
        wait_for_terminal(api, f"transcription-{record['id']}", timeout=180)
    page = ui.open("/#/chat")
    page.wait_for_selector("main[data-ready='chat']")
    page.select_option("#chat-agent", "sauti")
    page.click("#chat-new")
    page.wait_for_selector("#chat-thread[data-ready='thread']")
    page.fill("#chat-input", "In my recordings, what did the speaker ask Americans to do for their country?")
    page.click("#chat-send")
    page.wait_for_selector("#chat-thread[data-replies='1']", timeout=LONG)
    page.wait_for_selector("#chat-messages details.tool-call[data-tool='search_recordings']")
    page.wait_for_selector(f"#chat-messages .citations a[data-record='{record['id']}']")
    ui.shot("chat-agent")


def test_a_voice_session_speaks_remembers_and_forgets(
    ui: Browsing, ui_server: SautiServer, tmp_path: Path
) -> None:
    with ui_server.client(timeout=60) as api:
        spoken = api.post(
            "/v1/audio/speech",
            json={
                "model": "Piper-Joe-Medium",
                "input": "What is the capital city of France?",
                "response_format": "wav",
            },
        )
    question = tmp_path / "question.wav"
    question.write_bytes(spoken.content)
    page = ui.open("/#/voice")
    page.wait_for_selector("main[data-ready='voice']")
    page.check("#voice-memory-on")
    page.click("#voice-profile-save")
    page.wait_for_selector("#voice-profile-save:text-is('Saved')")
    page.click("#voice-new")
    page.wait_for_selector("#voice-session[data-ready='session']")

    page.set_input_files("#voice-file", str(question))
    page.click("#voice-send")
    page.wait_for_selector("#voice-session[data-turns='1']", timeout=LONG)
    first = page.locator("#voice-turns .voice-turn[data-turn='1']")
    assert "capital city of france" in first.locator(".message[data-role='user']").inner_text().lower()
    assert first.locator(".chunks audio").count() >= 1

    page.fill("#voice-text", "My name is Ana.")
    page.press("#voice-text", "Enter")
    page.wait_for_selector("#voice-session[data-turns='2']", timeout=LONG)
    page.wait_for_selector("#voice-memory li[data-observation]:has-text('Ana')")
    page.click("#voice-memory li[data-observation]:has-text('Ana') button")
    page.wait_for_function("() => !document.querySelector('#voice-memory').textContent.includes('Ana')")
    text = page.locator("#voice-export-text").get_attribute("href")
    assert text and text.endswith("format=text")
    ui.shot("voice-session")
    with ui_server.client() as api:
        exported = api.get(text).text
        api.patch("/v1/voice/profile", json={"observational_memory": False})
    assert "User: My name is Ana." in exported
