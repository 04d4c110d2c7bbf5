"""Scheduled upkeep of the web process: the sweep of unclaimed media files."""
