"""The contract's "Route Rename Migration": the old preview routes are removed, not aliased. They
answer 404 with the error envelope and a message naming the route that replaced them."""

from __future__ import annotations

from quart import Blueprint, Response, request, websocket
from quart_schema import hide

from app.http.errors import error_response

# Removed prefix → (current prefix, query the current route needs). Longest prefix first.
REMOVED_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("/v1/transcriptions/jobs", "/v1/speech-to-text/jobs", ""),
    ("/v1/transcriptions", "/v1/speech-to-text/jobs", "?job_kind=transcription"),
    ("/v1/transcription/realtime/ws", "/v1/speech-to-text/realtime/ws", ""),
    ("/v1/audio/diarizations", "/v1/speech-to-text/jobs", "?job_kind=diarization"),
    ("/v1/audio/diarize", "/v1/speech-to-text/jobs", "?job_kind=diarization"),
    ("/v1/text-to-speech-generations", "/v1/text-to-speech", ""),
    ("/v1/voice-design-generations", "/v1/voice-designs", ""),
    ("/v1/voice-clone-generations", "/v1/voice-clones", ""),
)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def current_route(path: str) -> str | None:
    """The route that replaced a removed one (``/v1/transcriptions/abc`` →
    ``/v1/speech-to-text/jobs/abc?job_kind=transcription``); None for any other path."""
    for removed, current, query in REMOVED_ROUTES:
        if path == removed or path.startswith(removed + "/"):
            return current + path[len(removed) :] + query
    return None


def _removed(path: str) -> Response:
    current = current_route(path.rstrip("/")) or "/docs"
    return error_response(404, f"{path} was removed: use {current} instead.")


@hide
async def removed_route(rest: str = "") -> Response:
    return _removed(request.path)


@hide
async def removed_websocket(rest: str = "") -> Response:
    # Returned before the handshake is accepted, this is sent as the HTTP answer to the upgrade.
    return _removed(websocket.path)


def register_removed_routes(blueprint: Blueprint) -> None:
    for removed, _, _ in REMOVED_ROUTES:
        for path in (removed, removed + "/<path:rest>"):
            endpoint = "removed" + path.replace("/", "_").replace("<path:rest>", "rest")
            blueprint.add_url_rule(path, endpoint, removed_route, methods=METHODS)
            blueprint.add_websocket(path, endpoint + "_ws", removed_websocket)
