"""Media objects by path (``/v1/media``): upload in base64, list, download (with Range), delete.

``{path}`` is a catch-all (``chat/thread-1/attachment.wav``). It is taken from the request's raw
target and percent-decoded here, once, so that what the server or router decoded already (``%2e``,
``%2f``, ``%252e``) cannot pass for something else; then ``domain.media_paths`` checks it, and the
file system must resolve it inside the media root.
"""

from __future__ import annotations

import asyncio
import functools
import re
from typing import Any
from urllib.parse import unquote

from quart import Blueprint, Response, current_app, jsonify, request
from quart.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

from app.bootstrap import Container, request_metadata
from app.http.errors import ApiError
from app.http.media_download import send_media
from app.http.pagination import newest_first_page
from app.http.request_body import request_body
from app.projections.media_object_queries import find_object, objects_page
from app.routes.media.library import MediaLibrary
from app.routes.media.requests import MediaBody, read_media_upload
from domain.fields import FieldError
from domain.media_objects import OBJECT_NAME, media_json, media_url
from domain.media_paths import media_path

blueprint = Blueprint("media", __name__)

BASE = "/v1/media"
_RAW_PREFIX = (BASE + "/").encode()
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
PATH_PARAM = "path"


class AnyPathConverter(PathConverter):
    """Any rest of the path, even empty or starting with '/': the route refuses those with a 400
    (the default ``path`` converter would leave them to a 404)."""

    regex = r"[\s\S]*"  # line breaks too (a decoded %0a): refused by the route, not left unrouted
    part_isolating = False  # it spans '/' (werkzeug guesses from a '/' in the regex)


@blueprint.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["anypath"] = AnyPathConverter


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def _library() -> MediaLibrary:
    container = _container()
    return MediaLibrary(container.store, container.media)


def _bad_path(reason: str) -> FieldError:
    return FieldError(f"`{PATH_PARAM}` must be a relative path inside the media root: {reason}.", PATH_PARAM)


def requested_path(routed: str) -> str:
    """The path the client sent, decoded once and checked (400 otherwise)."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and raw.startswith(_RAW_PREFIX):
        try:
            encoded = raw[len(_RAW_PREFIX) :].decode()
        except UnicodeDecodeError:
            raise _bad_path("it is not UTF-8") from None
        if _ENCODED_SEPARATOR.search(encoded):
            raise _bad_path("percent-encoded '/' and '\\' are not allowed")
        try:
            routed = unquote(encoded, errors="strict")
        except UnicodeDecodeError:
            raise _bad_path("its percent-encoded bytes are not UTF-8") from None
    path = media_path(routed, PATH_PARAM)
    _library().check_inside_root(path, PATH_PARAM)
    return path


def _not_found(path: str) -> ApiError:
    return ApiError(404, f"No media object at {path!r}.", param=PATH_PARAM)


@blueprint.get(BASE)
async def list_media() -> Any:
    """Media objects, newest first, with cursor pagination (`limit` up to 500, `cursor`)."""
    return await newest_first_page(functools.partial(objects_page, _container().engine), media_json)


@blueprint.post(BASE)
@request_body(MediaBody)
async def upload_media() -> Any:
    """Upload a media object (JSON, up to 64 MiB decoded): `data_base64` (alias `audio_base64`, or a
    `data:` URL), `content_type`, `filename`, `namespace`. The path is `namespace/filename`; an
    upload to a path that exists replaces its object. Answers 201 with the object."""
    upload = await read_media_upload()
    library = _library()
    library.check_inside_root(upload.path, "namespace" if upload.namespace else "filename")
    row = await asyncio.to_thread(library.upload, upload, request_metadata())
    response = jsonify(media_json(row))
    response.status_code = 201
    response.headers["Location"] = media_url(row["path"])
    return response


@blueprint.route(f"{BASE}/<anypath:path>", methods=["GET"], merge_slashes=False)
async def download_media(path: str) -> Response:
    """The object's bytes with its content type; `Range` requests are answered with 206."""
    checked = requested_path(path)
    container = _container()
    row = await asyncio.to_thread(find_object, container.engine, checked)
    if row is None:
        raise _not_found(checked)
    response = await send_media(
        container.media,
        row["digest"],
        content_type=row["content_type"],
        filename=row["filename"],
        missing=f"The media object at {checked!r} is no longer stored.",
    )
    # Uploaded bytes are served as they were declared, never sniffed or run as a page of this origin.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@blueprint.route(f"{BASE}/<anypath:path>", methods=["DELETE"], merge_slashes=False)
async def delete_media(path: str) -> Any:
    """Delete the object at the path; its file goes once no other path or record holds the same
    bytes. Its events stay: the audit keeps that it existed."""
    checked = requested_path(path)
    if not await asyncio.to_thread(_library().delete, checked, request_metadata()):
        raise _not_found(checked)
    return {"object": OBJECT_NAME, "path": checked, "deleted": True}
