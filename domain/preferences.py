"""Onboarding and preferences: the first-party UI's small state, one event stream per server.

The stream ``preferences-local`` holds every change, so the state (``PreferencesState``) is folded
from its events like any other stream's; no table is needed for a handful of events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from domain.events import DomainEvent, stream_id

CATEGORY = "preferences"
STREAM_ID = stream_id(CATEGORY, "local")


class OnboardingCompleted(DomainEvent):
    """The person finished the first-run screen."""

    verb = "onboarding_completed"


class AnalyticsPreferenceSet(DomainEvent):
    """The analytics choice. Sauti sends nothing anywhere either way: the choice is kept so that
    the UI states it, and so that a future opt-in feature has to ask first."""

    verb = "analytics_set"
    opt_in: bool


@dataclass(frozen=True)
class PreferencesState:
    completed: bool = False
    completed_at: int | None = None
    """Unix seconds of the first completion."""
    analytics_opt_in: bool = False

    def onboarding_json(self) -> dict[str, Any]:
        return {
            "completed": self.completed,
            "completed_at": self.completed_at,
            "analytics_opt_in": self.analytics_opt_in,
        }

    def preferences_json(self) -> dict[str, Any]:
        return {"analytics_opt_in": self.analytics_opt_in}


def evolve(
    state: PreferencesState, event_type: str, data: dict[str, Any], recorded_at: float
) -> PreferencesState:
    if event_type == OnboardingCompleted.type_for(CATEGORY):
        if state.completed:
            return state
        return replace(state, completed=True, completed_at=int(recorded_at))
    if event_type == AnalyticsPreferenceSet.type_for(CATEGORY):
        return replace(state, analytics_opt_in=AnalyticsPreferenceSet.model_validate(data).opt_in)
    return state  # unknown types (newer versions) are kept in the stream and ignored here


def fold(events: Iterable[tuple[str, dict[str, Any], float]]) -> PreferencesState:
    """The state after ``(type, data, recorded_at)`` events, oldest first."""
    state = PreferencesState()
    for event_type, data, recorded_at in events:
        state = evolve(state, event_type, data, recorded_at)
    return state
