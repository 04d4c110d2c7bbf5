"""The ``sauti`` command line and the supervisor of worker processes."""

from __future__ import annotations

from app.cli.main import main

__all__ = ["main"]
