"""Browser tests: Debian's headless Chromium, driven by Playwright for Python, against a real
``sauti serve`` with a worker (the bundled models) and a local model hub.

Playwright's own browser download is never used: ``executable_path`` is Debian's ``chromium``
(installed by ``scripts/setup``). Without it the tests are skipped, and under ``CI=true`` they fail.
Every test saves screenshots into ``tests/e2e/browser/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SautiServer, serving, start_server
from tests.local_hub import Hub, serve_hub

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
VIEWPORT = {"width": 1360, "height": 900}
HUB_REPO = "sauti-tests/ui-model"
HUB_FILES = {"model.bin": bytes(range(256)) * 4096, "config.json": b"{}"}
HUB_MODEL = "UI-Test-Model"


def chromium_path() -> str:
    """Debian's Chromium (``SAUTI_CHROMIUM`` overrides); a skip without it, a failure in CI."""
    found = os.environ.get("SAUTI_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    missing = None
    if not found:
        missing = "no chromium executable on PATH (apt-get install chromium chromium-driver)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[dev]')"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run in CI: {missing} (scripts/setup installs it)")
        pytest.skip(f"browser tests skipped: {missing}")
    assert found is not None
    return found


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for this package's tests. Not for the session: Playwright's sync API keeps an
    event loop running on this thread while it is started, which would break the asyncio tests
    that run after these."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--autoplay-policy=no-user-gesture-required",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
            ],
        )
        yield launched
        launched.close()


def hub_catalog(data_dir: Path) -> None:
    """A catalog entry for the local hub's model, so the Models page can download it."""
    entry = {
        "id": HUB_MODEL,
        "engine": "whisper",
        "hub_repo": HUB_REPO,
        "description": "A test model served by the local hub.",
        "files": [
            {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in HUB_FILES.items()
        ],
    }
    (data_dir / "catalog.json").write_text(json.dumps([entry]))


@pytest.fixture(scope="session")
def hub() -> Iterator[Hub]:
    with serve_hub(HUB_REPO, HUB_FILES) as served:
        served.throttle = 0.05  # 64 chunks: about three seconds, so the bar is seen moving
        yield served


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory, hub: Hub) -> Iterator[SautiServer]:
    """One server for the browser tests that do not restart it (a worker, the bundled models)."""
    base = tmp_path_factory.mktemp("sauti-ui")
    data_dir = base / "data"
    data_dir.mkdir()
    hub_catalog(data_dir)
    server = start_server(data_dir, base / "server.log", env={"SAUTI_HUB_URL": hub.url})
    yield from serving(server)


class Browsing:
    """A page of a fresh browser context, with the JavaScript errors it raised."""

    def __init__(self, context: Any, base_url: str) -> None:
        self.context = context
        self.base_url = base_url
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.set_default_timeout(20_000)

    def open(self, path: str = "/") -> Any:
        self.page.goto(f"{self.base_url}{path}")
        return self.page

    def shot(self, name: str, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


def browse(browser: Any, server: SautiServer, **options: Any) -> Browsing:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, **options)
    return Browsing(context, server.base_url)


@pytest.fixture
def ui(browser: Any, ui_server: SautiServer) -> Iterator[Browsing]:
    """A fresh page on the shared server; fails the test on an uncaught JavaScript error."""
    browsing = browse(browser, ui_server)
    yield browsing
    browsing.context.close()
    assert not browsing.errors, f"JavaScript errors: {browsing.errors}"
