"""Which model serves a request: the one named (known, able, present) or the route's default."""

from __future__ import annotations

import asyncio

from app.bootstrap import Container
from app.errors import ApiError
from domain.catalog import ModelVariant


def _able(container: Container, route: str) -> str:
    names = [v.id for v in container.catalog if v.can(route)]
    return ", ".join(names) if names else "none"


async def resolve_model(
    container: Container,
    requested: object,
    route: str,
    *,
    default_for: str | None = None,
    what: str,
    param: str = "model",
) -> ModelVariant:
    """The variant for ``requested`` (an id) able to serve ``route``, or a 400 naming ``param``.

    ``what`` says what the route does, for the message ("transcription", "chat completions").
    With no id, the default variant for ``default_for`` is used when there is one.
    """
    if requested is None or requested == "":
        default = container.catalog.default(default_for) if default_for else None
        if default is None:
            raise ApiError(400, f"`{param}` is required: name a model for {what}.", param=param)
        variant = default
    elif not isinstance(requested, str):
        raise ApiError(400, f"`{param}` must be a model id string.", param=param)
    else:
        found = container.catalog.find(requested)
        if found is None:
            raise ApiError(
                400,
                f"Unknown model {requested!r} for {what}. Models that can: {_able(container, route)}.",
                param=param,
            )
        variant = found
    if not variant.can(route):
        raise ApiError(
            400,
            f"Model {variant.id} does not support {what}. Models that can: {_able(container, route)}.",
            param=param,
        )
    if not await asyncio.to_thread(container.models.files_present, variant):
        raise ApiError(
            400,
            f"Model {variant.id} is not downloaded: POST /v1/admin/models/{variant.id}/download first.",
            param=param,
        )
    return variant
