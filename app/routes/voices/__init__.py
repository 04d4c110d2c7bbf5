"""Saved voices: reusable voice-clone references."""
