"""Every job, whatever its kind, newest first (`/v1/jobs`): what the web UI's Jobs page lists."""
