"""The voice profile (``GET/PATCH /v1/voice/profile``) and the observational memory
(``/v1/voice/observations``): each a stream of its own, folded on every read (docs/voice.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint, current_app, request

from app.bootstrap import Container, request_metadata
from app.http.pagination import clamp_limit
from app.http.request_body import receive_body, request_body
from app.routes.voice_mode.bodies import VoiceProfileBody
from domain.errors import NotFound
from domain.fields import FieldError, optional_int
from domain.voice import (
    BASE_URL,
    OBSERVATION_OBJECT,
    PROFILE_FIELDS,
    Observation,
    ObservationForgotten,
    ObservationsCleared,
    Profile,
    ProfileChanged,
)
from workflows.voice import MEMORY_STREAM, PROFILE_STREAM, append_to, load_memory, load_profile

blueprint = Blueprint("voice_profile", __name__)


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def profile_json(profile: Profile) -> dict[str, Any]:
    return {
        "id": profile.id,
        "object": "voice.profile",
        "name": profile.name,
        "system_prompt": profile.system_prompt,
        "observational_memory": profile.observational_memory,
        "updated_at": int(profile.updated_at) if profile.updated_at else None,
    }


def observation_json(observation: Observation) -> dict[str, Any]:
    return {
        "id": observation.id,
        "object": OBSERVATION_OBJECT,
        "text": observation.text,
        "session_id": observation.session_id,
        "turn": observation.turn,
        "created_at": int(observation.recorded_at),
    }


@blueprint.get(f"{BASE_URL}/profile")
async def get_profile() -> Any:
    """The voice profile: its name, system prompt and whether observational memory is on."""
    return profile_json(await asyncio.to_thread(load_profile, _container().store))


@blueprint.patch(f"{BASE_URL}/profile")
@request_body(VoiceProfileBody)
async def update_profile() -> Any:
    """Change `name`, `system_prompt` or `observational_memory`: only the fields sent."""
    received = await receive_body(VoiceProfileBody)
    body = received.parse()
    changes = {name: getattr(body, name) for name in PROFILE_FIELDS if name in received.fields}
    for name in ("name", "system_prompt"):
        if name in changes and not changes[name]:
            raise FieldError(f"`{name}` must be a non-empty string.", name)
    if "observational_memory" in changes and changes["observational_memory"] is None:
        raise FieldError("`observational_memory` must be true or false.", "observational_memory")
    store = _container().store

    def change() -> Profile:
        current = load_profile(store)
        changed = {k: v for k, v in changes.items() if getattr(current, k) != v}
        if changed:
            append_to(store, PROFILE_STREAM, [ProfileChanged(changes=changed)], request_metadata())
        return load_profile(store)

    return profile_json(await asyncio.to_thread(change))


@blueprint.get(f"{BASE_URL}/observations")
async def list_observations() -> Any:
    """What is remembered about the user, newest first (`limit`, default 100)."""
    limit = clamp_limit(optional_int(request.args, "limit", 1, form=True), default=100)
    observations = await asyncio.to_thread(load_memory, _container().store)
    newest = list(reversed(observations))[:limit]
    return {"object": "list", "data": [observation_json(o) for o in newest], "total": len(observations)}


@blueprint.delete(f"{BASE_URL}/observations")
async def clear_observations() -> Any:
    """Forget everything remembered."""
    store = _container().store
    await asyncio.to_thread(append_to, store, MEMORY_STREAM, [ObservationsCleared()], request_metadata())
    return {"object": "list", "data": [], "deleted": True}


@blueprint.delete(f"{BASE_URL}/observations/<observation_id>")
async def forget_observation(observation_id: str) -> Any:
    """Forget one observation: later turns no longer see it."""
    store = _container().store

    def forget() -> None:
        if observation_id not in {o.id for o in load_memory(store)}:
            raise NotFound(f"No observation {observation_id!r}.")
        append_to(
            store, MEMORY_STREAM, [ObservationForgotten(observation_id=observation_id)], request_metadata()
        )

    await asyncio.to_thread(forget)
    return {"id": observation_id, "object": OBSERVATION_OBJECT, "deleted": True}
