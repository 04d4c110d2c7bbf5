"""OpenAI-compatible transcription and forced alignment."""
