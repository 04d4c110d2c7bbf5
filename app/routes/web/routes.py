"""Serve the web UI: its shell at ``/`` and its assets under ``/ui/<version>/``.

Pages are routed in the browser (``/#/jobs``), so no server path other than these two is claimed:
nothing here can shadow ``/v1``, ``/internal``, the probes or ``/docs``, and an unknown API path
stays the API's JSON 404.

The shell names its assets under a version that changes with their contents (a hash of the files),
so the browser keeps them for good (``immutable``) and a module's relative imports stay on that
version; the shell itself is revalidated on every load, so an upgraded server is seen at once.
"""

from __future__ import annotations

import functools
import hashlib

from quart import Blueprint, Response, send_from_directory

from app.web import STATIC_DIR

blueprint = Blueprint("web", __name__)

ASSET_PREFIX = "/ui"
SHELL_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Everything comes from this server: no CDN, no web fonts, nothing sent anywhere else.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "style-src 'self' 'unsafe-inline'; connect-src 'self'; object-src 'none'; base-uri 'self'"
    ),
}


@functools.cache
def asset_version() -> str:
    """A short hash of every asset's path and bytes (computed once per process)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in STATIC_DIR.rglob("*") if p.is_file()):
        digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@functools.cache
def shell_html() -> str:
    html = (STATIC_DIR / "index.html").read_text()
    return html.replace(f'"{ASSET_PREFIX}/', f'"{ASSET_PREFIX}/{asset_version()}/')


def _secure(response: Response, cache: str) -> Response:
    response.headers["Cache-Control"] = cache
    response.headers.update(SECURITY_HEADERS)
    return response


@blueprint.get("/")
async def shell() -> Response:
    """The web UI (its pages: `/#/jobs`, `/#/transcribe`, `/#/speech`, `/#/models`, `/#/audit`)."""
    response = Response(shell_html(), content_type="text/html; charset=utf-8")
    return _secure(response, SHELL_CACHE)


@blueprint.get(f"{ASSET_PREFIX}/<version>/<path:asset>")
async def asset(version: str, asset: str) -> Response:
    """A file of the web UI (its modules, styles and icon), under the shell's asset version."""
    mimetype = "text/javascript" if asset.endswith(".js") else None
    response = await send_from_directory(STATIC_DIR, asset, mimetype=mimetype)
    # An old version's URL still gets today's file, but only this version's is kept for good.
    return _secure(response, ASSET_CACHE if version == asset_version() else SHELL_CACHE)
