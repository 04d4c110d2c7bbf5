"""Serve the web UI: its shell at ``/`` and its assets under ``/ui/``.

Pages are routed in the browser (``/#/jobs``), so no server path other than these two is claimed:
nothing here can shadow ``/v1``, ``/internal``, the probes or ``/docs``, and an unknown API path
stays the API's JSON 404.
"""

from __future__ import annotations

from quart import Blueprint, Response, send_from_directory

from app.web import STATIC_DIR

blueprint = Blueprint("web", __name__)

ASSET_PREFIX = "/ui"
# Revalidated on every load (ETag / Last-Modified answer 304): an upgraded server is never
# hidden behind a stale module, and a local round trip costs next to nothing.
CACHE_CONTROL = "no-cache"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Everything comes from this server: no CDN, no web fonts, nothing sent anywhere else.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "style-src 'self' 'unsafe-inline'; connect-src 'self'; object-src 'none'; base-uri 'self'"
    ),
}


def _finish(response: Response) -> Response:
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers.update(SECURITY_HEADERS)
    return response


@blueprint.get("/")
async def shell() -> Response:
    """The web UI (its pages: `/#/jobs`, `/#/transcribe`, `/#/speech`, `/#/models`, `/#/audit`)."""
    return _finish(await send_from_directory(STATIC_DIR, "index.html", mimetype="text/html"))


@blueprint.get(f"{ASSET_PREFIX}/<path:asset>")
async def asset(asset: str) -> Response:
    """A file of the web UI (its modules, styles and icon)."""
    mimetype = "text/javascript" if asset.endswith(".js") else None
    return _finish(await send_from_directory(STATIC_DIR, asset, mimetype=mimetype))
