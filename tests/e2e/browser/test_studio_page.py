"""The Studio page in Chromium: create a project from text, render it, edit one segment and render
again (only that one is synthesized, the others reused), reorder by keyboard, take and restore a
snapshot, export and play, and add a schedule."""

from __future__ import annotations

import pytest

from tests.e2e.browser.conftest import Browsing

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PARAGRAPHS = (
    "The weather was warm and sunny all day.",
    "Please call me tomorrow morning.",
    "We will meet at the library after lunch.",
)
SEGMENT = "#studio-segments .studio-seg"


def _rendered_count(page: object, count: int) -> None:
    page.wait_for_function(
        "n => Number(document.querySelector('main').dataset.rendered || 0) >= n", arg=count, timeout=120_000
    )  # type: ignore[attr-defined]


def test_create_render_edit_re_render_export_and_play(ui: Browsing) -> None:
    page = ui.open("/#/studio")
    page.wait_for_selector("main[data-ready='studio']")
    page.fill("#studio-name", "Browser chapter")
    page.fill("#studio-text", "\n\n".join(PARAGRAPHS))
    page.select_option("#studio-model", "Piper-Joe-Medium")
    page.click("#studio-create")
    page.wait_for_selector("main[data-ready='studio-project']")
    assert page.locator(SEGMENT).count() == 3
    assert page.locator(f"{SEGMENT}[data-rendered='false']").count() == 3

    page.click("#studio-render")
    _rendered_count(page, 1)
    page.wait_for_selector(f"{SEGMENT}[data-rendered='true'] >> nth=2")
    assert page.locator(f"{SEGMENT}[data-last-render='synthesized']").count() == 3
    ui.shot("studio-rendered")

    second = page.locator(SEGMENT).nth(1)
    edited_id = second.get_attribute("data-segment")
    second.locator("textarea").fill("Call me at noon, please.")
    second.locator("textarea").blur()  # a change is saved when the field is left
    page.wait_for_selector(f"{SEGMENT}[data-segment='{edited_id}'][data-rendered='false']")
    page.click("#studio-render")
    _rendered_count(page, 2)
    page.wait_for_selector(f"{SEGMENT}[data-rendered='true'] >> nth=2")
    synthesized = page.locator(f"{SEGMENT}[data-last-render='synthesized']")
    assert synthesized.count() == 1 and synthesized.get_attribute("data-segment") == edited_id
    assert page.locator(f"{SEGMENT}[data-last-render='reused']").count() == 2
    ui.shot("studio-re-rendered")

    first_id = page.locator(SEGMENT).nth(0).get_attribute("data-segment")
    page.locator(SEGMENT).nth(0).locator("textarea").press("Alt+ArrowDown")
    page.wait_for_function(
        "id => document.querySelectorAll('#studio-segments .studio-seg')[1].dataset.segment === id",
        arg=first_id,
    )
    page.fill("#studio-snapshot-name", "Reordered")
    page.click("#studio-snapshot")
    page.wait_for_selector("#studio-snapshots li[data-snapshot]")

    page.select_option("#studio-export-format", "wav")
    page.click("#studio-export-button")
    page.wait_for_selector("#studio-export:not([hidden])")
    page.wait_for_function(
        "() => { const a = document.querySelector('#studio-export-audio');"
        " return a.readyState >= 1 && a.duration > 1; }",
        timeout=30_000,
    )
    page.evaluate("document.querySelector('#studio-export-audio').play()")
    page.wait_for_function("() => document.querySelector('#studio-export-audio').currentTime > 0")
    assert "Download wav" in page.inner_text("#studio-download")

    page.fill("#studio-schedule-interval", "3600")
    page.fill("#studio-schedule-path", "studio/browser.mp3")
    page.click("#studio-schedule-add")
    page.wait_for_selector("#studio-schedules [data-schedule]:has-text('every 3600 s')")
    assert "exports to studio/browser.mp3" in page.inner_text("#studio-schedules")
    ui.shot("studio-project")
