"""``/v1/metrics`` (JSON) and ``/v1/metrics/prometheus`` (text format 0.0.4), and their
``/internal/*`` aliases."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint, Response, current_app

from app.bootstrap import Container
from app.http.sse import OPEN_STREAMS
from app.metrics.prometheus import CONTENT_TYPE, render
from app.metrics.snapshot import MetricsSnapshot, process_gauges, take_snapshot

blueprint = Blueprint("metrics", __name__)

REQUEST_METRICS = "SAUTI_REQUEST_METRICS"


async def _snapshot() -> MetricsSnapshot:
    config = current_app.config
    container: Container = config["SAUTI_CONTAINER"]
    hub = config.get("SAUTI_EVENT_HUB")
    web = process_gauges(
        config["SAUTI_STARTED_AT"],
        config[REQUEST_METRICS],
        container.append_seconds.snapshot(),
        OPEN_STREAMS.count,
        hub.subscribers if hub is not None else 0,
    )
    return await asyncio.to_thread(take_snapshot, container, web)


@blueprint.get("/v1/metrics")
@blueprint.get("/internal/metrics")
async def metrics() -> dict[str, Any]:
    """Runtime telemetry: HTTP requests, jobs, queues, the event store, workers and SSE."""
    return (await _snapshot()).to_json()


@blueprint.get("/v1/metrics/prometheus")
@blueprint.get("/internal/metrics/prometheus")
async def prometheus() -> Response:
    """The same figures in the Prometheus text exposition format."""
    body = render(await _snapshot())
    return Response(body, content_type=CONTENT_TYPE)
