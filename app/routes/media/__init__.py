"""Media objects addressed by path (``/v1/media``)."""
