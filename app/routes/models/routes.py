"""``/v1/models`` (OpenAI list shape) and the ``/v1/admin/models`` lifecycle routes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response, current_app, jsonify

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.sse import sse_frame, sse_response
from domain.models import decode, evolve, model_stream_id
from eventstore.base import EventFilter
from eventstore.subscription import EventHub
from workflows.models import ModelView

blueprint = Blueprint("models", __name__)


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def _openai_model(view: ModelView) -> dict[str, Any]:
    return {
        "id": view.variant.id,
        "object": "model",
        "created": view.variant.created,
        "owned_by": view.variant.owned_by,
    }


def _progress(view: ModelView) -> dict[str, Any]:
    state = view.state
    if state.downloading:
        status = "downloading"
    elif state.download_outcome is not None:
        status = state.download_outcome
    else:
        status = "completed" if state.files_present else "not_started"
    return {
        "variant": view.variant.id,
        **dataclasses.asdict(state.progress),
        "percent": state.progress.percent,
        "status": status,
    }


def admin_record(view: ModelView, container: Container) -> dict[str, Any]:
    variant, state = view.variant, view.state
    record: dict[str, Any] = {
        "variant": variant.id,
        "family": variant.family,
        "engine": variant.engine,
        "source": variant.source,
        "description": variant.description,
        "enabled": state.files_present,
        "status": state.status,
        "modalities": list(variant.modalities),
        "route_capabilities": variant.route_capabilities(),
        "size_bytes": variant.size_bytes,
        "local_path": str(container.model_files.load_path(variant)),
        "loaded_workers": sorted(state.loaded_on),
        "error": state.error,
    }
    if variant.speech is not None:
        record["capabilities"] = dataclasses.asdict(variant.speech)
    if variant.hub_repo:
        record["hub_repo"] = variant.hub_repo
    if state.downloading or state.download_outcome is not None:
        record["download"] = _progress(view)
    return record


async def _view(model_id: str) -> ModelView:
    return await asyncio.to_thread(_container().models.view, model_id)


@blueprint.get("/v1/models")
async def list_models() -> dict[str, Any]:
    """Enabled model variants, in OpenAI's list shape."""
    views = await asyncio.to_thread(_container().models.views)
    return {"object": "list", "data": [_openai_model(v) for v in views if v.state.files_present]}


@blueprint.get("/v1/models/<path:model>")
async def get_model(model: str) -> dict[str, Any]:
    container = _container()
    if container.catalog.find(model) is None:
        raise ApiError(404, f"The model {model!r} does not exist.", param="model")
    view = await _view(model)
    if not view.state.files_present:
        raise ApiError(404, f"The model {model!r} is not enabled: download it first.", param="model")
    return _openai_model(view)


@blueprint.get("/v1/admin/models")
async def admin_list() -> dict[str, Any]:
    container = _container()
    views = await asyncio.to_thread(container.models.views)
    return {"object": "list", "data": [admin_record(v, container) for v in views]}


@blueprint.get("/v1/admin/models/<variant>")
async def admin_get(variant: str) -> dict[str, Any]:
    return admin_record(await _view(variant), _container())


async def _act(action: str, variant: str, status: int = 200) -> Response:
    container = _container()
    view = await asyncio.to_thread(getattr(container.models, action), variant)
    response = jsonify(admin_record(view, container))
    response.status_code = status
    return response


@blueprint.post("/v1/admin/models/<variant>/download")
async def admin_download(variant: str) -> Response:
    """Start a background download from the hub (``SAUTI_HUB_URL``)."""
    return await _act("request_download", variant, 202)


@blueprint.post("/v1/admin/models/<variant>/download/cancel")
async def admin_download_cancel(variant: str) -> Response:
    return await _act("cancel_download", variant, 202)


@blueprint.post("/v1/admin/models/<variant>/load")
async def admin_load(variant: str) -> Response:
    """Ask every worker process to load the model (status ``loading`` → ``ready``)."""
    return await _act("request_load", variant, 202)


@blueprint.post("/v1/admin/models/<variant>/unload")
async def admin_unload(variant: str) -> Response:
    return await _act("request_unload", variant, 202)


@blueprint.delete("/v1/admin/models/<variant>")
async def admin_delete(variant: str) -> Response:
    """Unload the model and delete its local files."""
    return await _act("delete", variant)


@blueprint.get("/v1/admin/models/<variant>/download/progress")
async def admin_download_progress(variant: str) -> Response:
    """SSE: the contract's progress payload after every change, until the download ends."""
    container = _container()
    hub: EventHub = current_app.config["SAUTI_EVENT_HUB"]
    stream_id = model_stream_id(container.models.variant(variant).id)
    # The position first, then the view: an event in between is applied twice, which the
    # fold tolerates (progress is replaced, outcomes are set), rather than missed.
    stored = await asyncio.to_thread(container.store.read_stream, stream_id)
    last_position = max((e.position for e in stored), default=0)
    view = await _view(variant)

    async def frames() -> AsyncIterator[bytes]:
        current = view
        yield sse_frame(_progress(current))
        if not current.state.downloading:
            return
        async for recorded in hub.subscribe(last_position, EventFilter(stream_id=stream_id)):
            event = decode(recorded.type, recorded.data)
            if event is None:
                continue
            current = dataclasses.replace(
                current, state=evolve(current.state, event), version=recorded.version
            )
            yield sse_frame(_progress(current), id=recorded.position)
            if not current.state.downloading:
                return

    return sse_response(frames(), container.settings.sse_heartbeat_seconds)
