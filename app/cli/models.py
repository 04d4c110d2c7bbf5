"""``sauti models list|download|load|unload|rm``: the admin model API from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from app.settings import Settings

BAR_WIDTH = 30


def _base_url(args: argparse.Namespace) -> str:
    settings = Settings(**{k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None})
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}"


def _fail(response: httpx.Response) -> int:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text
    print(f"error ({response.status_code}): {message}", file=sys.stderr)
    return 1


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _bar(progress: dict[str, Any]) -> str:
    filled = int(BAR_WIDTH * progress.get("percent", 0) / 100)
    return (
        f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress.get('percent', 0):6.2f}% "
        f"{_human(progress.get('downloaded_bytes', 0))}/{_human(progress.get('total_bytes', 0))} "
        f"{progress.get('current_file', '')[:30]:30}"
    )


def cmd_list(args: argparse.Namespace, client: httpx.Client) -> int:
    response = client.get("/v1/admin/models")
    if response.status_code != 200:
        return _fail(response)
    records = response.json()["data"]
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    print(f"{'VARIANT':40} {'STATUS':15} {'SOURCE':8} {'SIZE':>10}  ENGINE")
    for record in records:
        print(
            f"{record['variant']:40} {record['status']:15} {record['source']:8} "
            f"{_human(record['size_bytes']):>10}  {record['engine']}"
        )
    return 0


def cmd_download(args: argparse.Namespace, client: httpx.Client) -> int:
    response = client.post(f"/v1/admin/models/{args.variant}/download")
    if response.status_code != 202:
        return _fail(response)
    final: dict[str, Any] = {}
    with client.stream(
        "GET",
        f"/v1/admin/models/{args.variant}/download/progress",
        headers={"Accept": "text/event-stream"},
        timeout=httpx.Timeout(30.0, read=None),
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                final = json.loads(line[6:])
                print(_bar(final), end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    status = final.get("status")
    print(f"{args.variant}: {status}")
    return 0 if status == "completed" else 1


def _action(method: str, suffix: str) -> Any:
    def run(args: argparse.Namespace, client: httpx.Client) -> int:
        response = client.request(method, f"/v1/admin/models/{args.variant}{suffix}")
        if response.status_code >= 400:
            return _fail(response)
        record = response.json()
        print(f"{record['variant']}: {record['status']}")
        return 0

    return run


def cmd_models(args: argparse.Namespace) -> int:
    handlers = {
        "list": cmd_list,
        "download": cmd_download,
        "load": _action("POST", "/load"),
        "unload": _action("POST", "/unload"),
        "rm": _action("DELETE", ""),
    }
    try:
        with httpx.Client(base_url=_base_url(args), timeout=30.0) as client:
            return int(handlers[args.models_command](args, client))
    except httpx.HTTPError as error:
        print(f"sauti is not answering at {_base_url(args)}: {error}", file=sys.stderr)
        return 1


def add_models_parser(sub: Any) -> None:
    models = sub.add_parser("models", help="list, download, load, unload and delete models (via the server)")
    models.add_argument("--host", help="the server's host (default 127.0.0.1)")
    models.add_argument("--port", type=int, help="the server's port (default 8080)")
    actions = models.add_subparsers(dest="models_command", required=True)
    listing = actions.add_parser("list", help="every known variant and its status")
    listing.add_argument("--json", action="store_true", help="print the admin records as JSON")
    for name, help_text in (
        ("download", "download a hub variant, with a progress bar"),
        ("load", "load a variant in every worker"),
        ("unload", "unload a variant from every worker"),
        ("rm", "unload a variant and delete its local files"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("variant")
    models.set_defaults(func=cmd_models)
