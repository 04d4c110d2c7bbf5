"""Onboarding and preferences routes. Every change is an event of the ``preferences-local`` stream
(``domain/preferences.py``); reads fold that stream."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field
from quart import Blueprint, current_app, request

from app.bootstrap import Container, request_metadata
from app.http.errors import ApiError
from app.http.request_body import BodyModel, request_body
from domain.events import DomainEvent
from domain.fields import Passed
from domain.preferences import (
    CATEGORY,
    STREAM_ID,
    AnalyticsPreferenceSet,
    OnboardingCompleted,
    PreferencesState,
    fold,
)
from workflows.jobs import to_new_event

blueprint = Blueprint("preferences", __name__)


class AnalyticsBody(BodyModel):
    """The analytics choice (nothing is ever sent anywhere; the choice is only recorded)."""

    requires = ("opt_in",)

    opt_in: Annotated[bool | None, Passed] = Field(
        None, description="true to opt in, false to opt out.", examples=[True]
    )


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def _state(container: Container) -> PreferencesState:
    events = container.store.read_stream(STREAM_ID)
    return fold((event.type, event.data, event.recorded_at) for event in events)


def _record(container: Container, event: DomainEvent) -> PreferencesState:
    metadata = {"correlation_id": STREAM_ID, **request_metadata()}
    container.store.append(STREAM_ID, [to_new_event(CATEGORY, event, metadata=metadata)])
    return _state(container)


async def _opt_in() -> bool:
    if request.mimetype != "application/json":
        raise ApiError(415, 'Send the choice as JSON: {"opt_in": true} or {"opt_in": false}.')
    body: Any = await request.get_json(silent=True)
    if not isinstance(body, dict) or "opt_in" not in body:
        raise ApiError(400, 'The body must be a JSON object with "opt_in": true or false.', param="opt_in")
    unknown = sorted(set(body) - {"opt_in"})
    if unknown:
        raise ApiError(400, f"Unknown field {unknown[0]!r}: only opt_in can be set.", param=unknown[0])
    if not isinstance(body["opt_in"], bool):
        raise ApiError(400, "opt_in must be true or false.", param="opt_in")
    return bool(body["opt_in"])


@blueprint.get("/v1/onboarding")
async def get_onboarding() -> Any:
    """The first-run state: `completed`, `completed_at` (unix seconds) and `analytics_opt_in`."""
    return (await asyncio.to_thread(_state, _container())).onboarding_json()


@blueprint.post("/v1/onboarding/complete")
async def complete_onboarding() -> Any:
    """Mark onboarding complete (again is harmless: `completed_at` keeps the first time)."""
    state = await asyncio.to_thread(_record, _container(), OnboardingCompleted())
    return state.onboarding_json()


@blueprint.get("/v1/preferences")
async def get_preferences() -> Any:
    """The preferences: `analytics_opt_in` (false until chosen)."""
    return (await asyncio.to_thread(_state, _container())).preferences_json()


@blueprint.put("/v1/preferences/analytics")
@request_body(AnalyticsBody)
async def set_analytics() -> Any:
    """Record the analytics choice, `{"opt_in": true}`; answers the preferences."""
    opt_in = await _opt_in()
    state = await asyncio.to_thread(_record, _container(), AnalyticsPreferenceSet(opt_in=opt_in))
    return state.preferences_json()
