"""The Quart application: blueprints, request ids, access logs, CORS, limits, OpenAPI and /docs."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from quart import Quart, Response, g, request
from quart_schema import QuartSchema

from app import __version__
from app.bootstrap import Container
from app.http import docs
from app.http.bodies import drain_body
from app.http.errors import envelope, register_error_handlers
from app.http.request_body import BodyDocumentingProvider
from app.logging import request_id_var
from app.maintenance.scheduler import start_maintenance
from app.metrics.requests import RequestMetrics
from app.routes import route_blueprints
from app.routes.metrics.routes import REQUEST_METRICS
from eventstore.notifier import EVENTS_TOPIC
from eventstore.subscription import EventHub

log = logging.getLogger("sauti.access")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
DEFAULT_BODY_LIMIT = 64 * 1024 * 1024
# Desktop shells (the contract names tauri://localhost) may call the API without --cors.
DESKTOP_ORIGINS = ("tauri://localhost", "http://tauri.localhost", "https://tauri.localhost")
# Probes are never refused by the concurrency limit: a busy server is still alive.
_UNLIMITED_PATHS = ("/livez", "/readyz", "/v1/live", "/v1/ready", "/v1/health", "/v1/metrics", "/internal/")


class ConcurrencyLimit:
    """ASGI middleware: at most ``limit`` HTTP requests in flight; more get 503 with the envelope."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_UNLIMITED_PATHS):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            body = Response.json_module.dumps(
                envelope(503, f"Server busy: {self.limit} requests already in flight; retry shortly.")
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def create_app(container: Container) -> Quart:
    settings = container.settings
    app = Quart("sauti")
    requests = RequestMetrics()
    app.config.update(
        {REQUEST_METRICS: requests},
        SAUTI_CONTAINER=container,
        SAUTI_STARTED_AT=time.time(),
        MAX_CONTENT_LENGTH=DEFAULT_BODY_LIMIT,
        RESPONSE_TIMEOUT=settings.timeout,
        BODY_TIMEOUT=settings.timeout,
    )
    QuartSchema(
        app,
        info={"title": "Sauti", "version": __version__, "description": "Local voice-AI server."},
        openapi_path=docs.OPENAPI_PATH,
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=BodyDocumentingProvider,
    )
    register_error_handlers(app)
    app.register_blueprint(docs.blueprint)
    for blueprint in route_blueprints():
        app.register_blueprint(blueprint)

    @app.before_request
    async def _request_id() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()
        request_id_var.set(g.request_id)

    @app.after_request
    async def _finish(response: Response) -> Response:
        if response.status_code >= 400:
            await drain_body()
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers[REQUEST_ID_HEADER] = request_id
        origin = request.headers.get("Origin")
        if settings.cors:
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Headers"] = "*"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            response.headers["Access-Control-Expose-Headers"] = "*"
        elif origin in DESKTOP_ORIGINS:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        seconds = time.perf_counter() - getattr(g, "started", time.perf_counter())
        rule = request.url_rule.rule if request.url_rule is not None else None
        requests.observe(request.method, rule, response.status_code, seconds)
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 2),
            },
        )
        return response

    @app.before_serving
    async def _start_hub() -> None:
        hub = EventHub(
            container.store,
            container.doorbell.listen(EVENTS_TOPIC),
            poll_seconds=settings.subscription_poll_seconds,
        )
        await hub.start()
        app.config["SAUTI_EVENT_HUB"] = hub
        app.config["SAUTI_SCHEDULER"] = start_maintenance(container)
        app.config["SAUTI_OUTBOX_RELAY"] = container.start_outbox_relay()

    @app.after_serving
    async def _stop_hub() -> None:
        scheduler = app.config.get("SAUTI_SCHEDULER")
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        relay = app.config.get("SAUTI_OUTBOX_RELAY")
        if relay is not None:
            relay.stop()
        await app.config["SAUTI_EVENT_HUB"].stop()

    app.asgi_app = ConcurrencyLimit(app.asgi_app, settings.max_concurrent)  # type: ignore[method-assign,assignment]
    return app
