"""Studio: long-form projects, their segments, renders and exports (docs/studio.md)."""
