"""Liveness, readiness and health (``/livez``, ``/readyz``, ``/v1/*`` and ``/internal/*`` aliases)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from quart import Blueprint, Response, current_app, jsonify
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app import __version__
from app.bootstrap import Container
from app.http.errors import envelope
from app.projections.tables import jobs
from eventstore.db import read_transaction
from migrations.api import current_revision, head_revision
from workers.remote_brokers import ping

blueprint = Blueprint("health", __name__)


def container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _readiness(c: Container) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        revision = current_revision(c.engine)
        checks["migrations"] = {
            "ok": revision == head_revision(),
            "revision": revision,
            "head": head_revision(),
        }
    except Exception as error:  # the database itself is unreachable
        checks["migrations"] = {"ok": False, "error": type(error).__name__}
        checks["workers"] = {"ok": False, "alive": 0}
        return checks
    alive = c.workers.alive(c.settings.worker_alive_seconds)
    checks["workers"] = {"ok": bool(alive), "alive": len(alive)}
    if c.broker_kind != "sqlite":
        try:
            ping(c.broker)
            checks["broker"] = {"ok": True, "kind": c.broker_kind}
        except Exception as error:  # Redis or RabbitMQ is down: jobs wait in the outbox
            checks["broker"] = {"ok": False, "kind": c.broker_kind, "error": type(error).__name__}
    return checks


def _health(c: Container, started_at: float) -> dict[str, Any]:
    now = time.time()
    checks = _readiness(c)
    stats: dict[str, Any] = {}
    stats_fn = getattr(c.broker, "stats", None)
    if callable(stats_fn):
        stats = stats_fn()
    with read_transaction(c.engine) as connection:
        by_status = {
            row.status: row.n
            for row in connection.execute(
                select(jobs.c.status, func.count().label("n")).group_by(jobs.c.status)
            )
        }
    workers = c.workers.all()
    return {
        "status": "ok" if all(check["ok"] for check in checks.values()) else "degraded",
        "version": __version__,
        "uptime_secs": round(now - started_at, 3),
        "data_dir": str(c.settings.data_dir),
        "database": {
            "backend": c.engine.dialect.name,
            "url": _redacted(c.settings.resolved_database_url),
            "last_position": c.store.last_position(),
            **checks["migrations"],
        },
        "broker": {
            "kind": c.broker_kind,
            "queues": stats,
            **({"outbox_pending": c.outbox.pending()} if c.outbox is not None else {}),
        },
        "workers": {
            "alive": checks["workers"]["alive"],
            "processes": [
                w.to_json(now, c.settings.worker_alive_seconds) for w in workers if w.stopped_at is None
            ],
        },
        "jobs": by_status,
    }


@blueprint.get("/livez")
@blueprint.get("/v1/live")
@blueprint.get("/internal/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@blueprint.get("/readyz")
@blueprint.get("/v1/ready")
@blueprint.get("/internal/ready")
async def ready() -> Response:
    checks = await asyncio.to_thread(_readiness, container())
    if all(check["ok"] for check in checks.values()):
        return jsonify({"status": "ready", "checks": checks})
    failing = ", ".join(name for name, check in checks.items() if not check["ok"])
    body = envelope(503, f"Not ready: {failing} not ok.", error_type="service_unavailable")
    response = jsonify({**body, "status": "not_ready", "checks": checks})
    response.status_code = 503
    return response


@blueprint.get("/v1/health")
@blueprint.get("/internal/health")
async def health() -> dict[str, Any]:
    return await asyncio.to_thread(_health, container(), current_app.config["SAUTI_STARTED_AT"])
