"""The preferences stream's fold: onboarding completes once, the analytics choice is the last one."""

from __future__ import annotations

from domain.preferences import CATEGORY, AnalyticsPreferenceSet, OnboardingCompleted, PreferencesState, fold

COMPLETED = OnboardingCompleted.type_for(CATEGORY)
ANALYTICS = AnalyticsPreferenceSet.type_for(CATEGORY)


def test_nothing_recorded_is_a_first_run() -> None:
    assert fold([]) == PreferencesState()
    assert fold([]).onboarding_json() == {"completed": False, "completed_at": None, "analytics_opt_in": False}


def test_the_first_completion_is_kept_and_the_last_choice_wins() -> None:
    state = fold(
        [
            (ANALYTICS, {"opt_in": True}, 10.0),
            (COMPLETED, {}, 20.7),
            (COMPLETED, {}, 30.0),
            (ANALYTICS, {"opt_in": False}, 40.0),
            ("preferences.something_newer", {"x": 1}, 50.0),
        ]
    )
    assert state.onboarding_json() == {"completed": True, "completed_at": 20, "analytics_opt_in": False}
    assert state.preferences_json() == {"analytics_opt_in": False}
