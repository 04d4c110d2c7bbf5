"""Which model serves a request: the one named (known, able, present) or the route's default."""

from __future__ import annotations

from app.bootstrap import Container
from app.http.errors import ApiError
from domain.capabilities import Capability
from domain.catalog import ModelVariant


def _able(container: Container, capability: Capability | None) -> str:
    names = [v.id for v in container.catalog if capability is None or v.can(capability)]
    return ", ".join(names) if names else "none"


async def resolve_model(
    container: Container,
    requested: object,
    capability: Capability | None,
    *,
    default_for: str | None = None,
    what: str,
    param: str = "model",
) -> ModelVariant:
    """The variant for ``requested`` (an id) with ``capability``, or a 400 naming ``param``.

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
                f"Unknown model {requested!r} for {what}. Models that can: {_able(container, capability)}.",
                param=param,
            )
        variant = found
    if capability is not None and not variant.can(capability):
        raise ApiError(
            400,
            f"Model {variant.id} does not support {what}. Models that can: {_able(container, capability)}.",
            param=param,
        )
    # A few stat calls (a bundle is looked up once per process): cheaper here than a thread hop.
    if not container.models.files_present(variant):
        raise ApiError(
            400,
            f"Model {variant.id} is not downloaded: POST /v1/admin/models/{variant.id}/download first.",
            param=param,
        )
    return variant
