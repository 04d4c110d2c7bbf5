"""Upcasters turn stored event data of an old schema version into the current shape on read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from eventstore.base import RecordedEvent

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """Registry keyed by ``(type, schema_version)``; each step lifts data by one version."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int, upcaster: Upcaster) -> None:
        key = (event_type, from_version)
        if key in self._steps:
            raise ValueError(f"an upcaster for {event_type} v{from_version} is already registered")
        self._steps[key] = upcaster

    def upcast(self, event: RecordedEvent) -> RecordedEvent:
        data, version = event.data, event.schema_version
        while (step := self._steps.get((event.type, version))) is not None:
            data, version = step(data), version + 1
        if version == event.schema_version:
            return event
        return replace(event, data=data, schema_version=version)
