"""(being written)"""

from __future__ import annotations

from quart import Blueprint

blueprint = Blueprint("responses", __name__)
