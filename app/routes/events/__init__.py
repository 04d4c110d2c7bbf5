"""The audit log: every event as JSON pages or a resumable SSE stream."""
