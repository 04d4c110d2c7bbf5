"""Onboarding and preferences: the first-party UI state (`/v1/onboarding`, `/v1/preferences`)."""
