"""Domain events: frozen, versioned pydantic models. Their type name is ``<category>.<verb>``."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

# Deterministic event ids are uuid5 in this namespace, so a retried step repeats the same id
# and the store drops the duplicate.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c2b1e-5a0e-4d55-9a3e-5341c7e1a0d1")


def deterministic_event_id(*parts: object) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "/".join(str(p) for p in parts)))


class DomainEvent(BaseModel):
    """Base of every event payload. Subclasses set ``verb`` and, when they change shape, bump
    ``schema_version`` and register an upcaster for the old one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verb: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @classmethod
    def type_for(cls, category: str) -> str:
        return f"{category}.{cls.verb}"

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def stream_id(category: str, entity_id: str) -> str:
    if "-" in category or not category:
        raise ValueError(f"a stream category must be a non-empty word without '-': {category!r}")
    return f"{category}-{entity_id}"


def new_id() -> str:
    return uuid.uuid4().hex
