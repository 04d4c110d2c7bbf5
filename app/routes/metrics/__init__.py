"""Runtime metrics: a JSON snapshot and the Prometheus text format."""
