"""(being written)"""

from __future__ import annotations

from quart import Blueprint

blueprint = Blueprint("transcriptions", __name__)
