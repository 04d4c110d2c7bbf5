"""Liveness, readiness and health."""
