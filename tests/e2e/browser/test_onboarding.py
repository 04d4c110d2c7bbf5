"""The first-run screen in Chromium: complete onboarding, and see it remembered after a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser.conftest import browse
from tests.e2e.conftest import SautiServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_onboarding_is_remembered_after_a_restart(
    browser: Any, tmp_path: Path, server_factory: Callable[..., SautiServer]
) -> None:
    data_dir = tmp_path / "data"
    server = server_factory(data_dir)
    ui = browse(browser, server)
    page = ui.open("/")
    page.wait_for_selector("main[data-ready='welcome']")  # a first run opens the welcome screen
    assert "Nothing is ever sent anywhere" in page.inner_text("main")
    page.wait_for_selector("#bundled-models li[data-variant='Whisper-Tiny.en']")
    ui.shot("welcome")
    page.check("#analytics-opt-in")
    page.wait_for_function("() => fetch('/v1/preferences').then(r => r.json()).then(p => p.analytics_opt_in)")
    page.click("#onboarding-complete")
    page.wait_for_selector("main[data-ready='jobs']")
    ui.context.close()
    server.stop_and_check()

    again = server_factory(data_dir)
    ui = browse(browser, again)
    page = ui.open("/")
    page.wait_for_selector("main[data-ready='jobs']")  # remembered: no welcome screen this time
    with again.client() as api:
        state = api.get("/v1/onboarding").json()
    assert state["completed"] is True and state["analytics_opt_in"] is True
    page.goto(f"{again.base_url}/#/welcome")
    page.wait_for_selector("#onboarding-state:has-text('Completed on')")
    assert page.is_checked("#analytics-opt-in")
    ui.context.close()
    assert not ui.errors
