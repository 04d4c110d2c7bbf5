"""Persisted speech-to-text and diarization records."""
