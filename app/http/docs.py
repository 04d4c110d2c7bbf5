"""``/docs``: the interactive API reference, a complete HTML page over ``/openapi.json`` that works
offline (the Swagger UI bundle is served from the installed ``swagger-ui-bundle`` package)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from quart import Blueprint, Response, send_from_directory

SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
OPENAPI_PATH = "/openapi.json"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Sauti API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      layout: "BaseLayout",
      presets: [SwaggerUIBundle.presets.apis],
    });
  </script>
</body>
</html>
"""

blueprint = Blueprint("docs", __name__)


@blueprint.get("/docs")
async def docs_page() -> Response:
    return Response(PAGE, content_type="text/html; charset=utf-8")


@blueprint.get("/docs/static/<path:filename>")
async def docs_static(filename: str) -> Response:
    return await send_from_directory(SWAGGER_DIR, filename)
