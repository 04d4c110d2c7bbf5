"""Runtime telemetry: what the web process counts itself (HTTP requests, SSE streams), and the
snapshot that adds it to what the database knows of every job and every worker."""
