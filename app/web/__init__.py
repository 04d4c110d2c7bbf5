"""The web UI: plain ES modules, CSS and one HTML shell under ``static/``, served by
``app/routes/web`` at ``/`` (docs/web-ui.md). No build step: what is here is what the browser runs."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
