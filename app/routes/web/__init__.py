"""The web UI: the shell at `/` and its assets under `/ui/`."""
