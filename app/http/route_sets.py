"""One set of handlers served under several collections (speech history families, the two views of
speech-to-text records): each handler is registered once per owner, the owner passed first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from quart import Blueprint

from app.http.request_body import BODY_FOR_ATTRIBUTE, request_body

Handler = Callable[..., Awaitable[Any]]
Route = tuple[str, Handler, list[str]]
"""``(path under the owner's base, handler, methods)``."""


class RouteOwner(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def base(self) -> str: ...


def bind(owner: RouteOwner, handler: Handler) -> Handler:
    async def endpoint(**kwargs: Any) -> Any:
        return await handler(owner, **kwargs)

    endpoint.__name__ = f"{owner.name}_{handler.__name__}"
    endpoint.__doc__ = handler.__doc__
    # quart-schema's OpenAPI annotations, not the wrapped function (its signature takes the owner).
    endpoint.__dict__.update({k: v for k, v in handler.__dict__.items() if k != "__wrapped__"})
    body_for = getattr(handler, BODY_FOR_ATTRIBUTE, None)
    if body_for is not None:
        request_body(body_for(owner))(endpoint)
    return endpoint


def add_route_set(blueprint: Blueprint, owners: Iterable[RouteOwner], routes: Sequence[Route]) -> None:
    for owner in owners:
        for path, handler, methods in routes:
            endpoint = bind(owner, handler)
            blueprint.add_url_rule(owner.base + path, endpoint.__name__, endpoint, methods=methods)
