"""The event contract: `ArgusEvent`, its 8 types, its topic and its partition key.

JSON on the wire is byte-compatible with the seed's `to_json`/`from_json`: the same keys in the same
order, `json.dumps` defaults, and the timestamp as `datetime.isoformat()`.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from argus_streams.errors import EventValidationError

DEFAULT_TOPIC_PREFIX = "argus"


class EventType(StrEnum):
    CODEBASE_INGESTED = "codebase.ingested"
    CODEBASE_ANALYZED = "codebase.analyzed"
    TEST_CREATED = "test.created"
    TEST_EXECUTED = "test.executed"
    TEST_FAILED = "test.failed"
    HEALING_REQUESTED = "healing.requested"
    HEALING_COMPLETED = "healing.completed"
    DLQ = "dlq"


CODEBASE_EVENTS = frozenset({EventType.CODEBASE_INGESTED, EventType.CODEBASE_ANALYZED})
TEST_EVENTS = frozenset({EventType.TEST_CREATED, EventType.TEST_EXECUTED, EventType.TEST_FAILED})
HEALING_EVENTS = frozenset({EventType.HEALING_REQUESTED, EventType.HEALING_COMPLETED})
# What Argus's services publish (through the producer gateway). The others are the jobs' own outputs, which only
# the job that makes them writes (bus/principals.py): codebase.analyzed, healing.completed, the DLQ.
PRODUCED = (EventType.CODEBASE_INGESTED, EventType.TEST_CREATED, EventType.TEST_EXECUTED, EventType.TEST_FAILED,
            EventType.HEALING_REQUESTED)

# The payload field that orders each family of events (the seed's partitioning strategy).
PARTITION_KEY_FIELD: dict[EventType, str] = {
    **dict.fromkeys(CODEBASE_EVENTS, "project_id"),
    **dict.fromkeys(TEST_EVENTS, "test_suite_id"),
    **dict.fromkeys(HEALING_EVENTS, "test_id"),
}


class ArgusEvent(BaseModel):
    """Base event schema for all Argus events (frozen: an event is a fact)."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # as the seed: unknown envelope keys are ignored

    event_id: str = Field(description="UUID v4, the deduplication key")
    event_type: EventType
    timestamp: datetime = Field(description="ISO 8601, UTC")
    source: str = Field(min_length=1, description="Producer identifier")
    tenant_id: str = Field(min_length=1, description="Multi-tenant isolation key")
    correlation_id: str = Field(description="Request tracing id, kept through every derived event")
    payload: dict[str, Any]
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("event_id")
    @classmethod
    def _uuid4(cls, value: str) -> str:
        try:
            parsed = uuid.UUID(value)
        except (ValueError, AttributeError, TypeError) as exc:
            raise ValueError("must be a UUID") from exc
        if parsed.version != 4:
            raise ValueError("must be a version-4 UUID")
        return value

    @field_validator("timestamp", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        # The seed parses with datetime.fromisoformat: numbers (epoch seconds) are not timestamps here.
        if not isinstance(value, str | datetime):
            raise ValueError("must be an ISO-8601 string")
        return value

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is not None and value.utcoffset() != UTC.utcoffset(None):
            try:
                return value.astimezone(UTC)
            except OverflowError as exc:  # year 1 at +05:00 is year 0 in UTC: a ValueError, so a data error
                raise ValueError("is out of the range of UTC times") from exc
        return value

    # Construction ---------------------------------------------------------------------------------
    @classmethod
    def new(
        cls,
        event_type: EventType | str,
        *,
        source: str,
        tenant_id: str,
        payload: dict[str, Any],
        correlation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> ArgusEvent:
        """A fresh event with a new id and the current UTC time."""
        return cls(
            event_id=str(uuid.uuid4()),
            event_type=EventType(event_type),
            timestamp=timestamp or datetime.now(UTC),
            source=source,
            tenant_id=tenant_id,
            correlation_id=correlation_id or str(uuid.uuid4()),
            payload=payload,
            metadata=metadata or {},
        )

    # Wire format ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type.value,
            "timestamp": self.timestamp.isoformat(),
            "source": self.source,
            "tenant_id": self.tenant_id,
            "correlation_id": self.correlation_id,
            "payload": self.payload,
            "metadata": self.metadata,
        }

    def to_json(self) -> str:
        """Serialise exactly as the seed does."""
        return json.dumps(self.to_dict())

    def to_bytes(self) -> bytes:
        return self.to_json().encode("utf-8")

    @classmethod
    def from_json(cls, data: str | bytes | bytearray | None) -> ArgusEvent:
        """Parse one Kafka value; any contract violation raises `EventValidationError` naming the field."""
        if data is None:  # a record without a value (a tombstone): bad data, not a TypeError
            raise EventValidationError("$", "the record has no value")
        try:
            obj = json.loads(data)
        except ValueError as exc:  # also UnicodeDecodeError, JSONDecodeError, an integer of > 4,300 digits
            raise EventValidationError("$", f"not valid JSON: {str(exc)[:200]}") from exc
        except RecursionError as exc:  # nesting deeper than the interpreter's limit: no event is that deep
            raise EventValidationError("$", "JSON nested too deeply") from exc
        return cls.from_dict(obj)

    @classmethod
    def from_dict(cls, obj: Any) -> ArgusEvent:
        if not isinstance(obj, dict):
            raise EventValidationError("$", f"expected a JSON object, got {type(obj).__name__}")
        if obj.get("metadata") is None:
            obj = {**obj, "metadata": {}}
        try:
            return cls.model_validate(obj)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "$"
            raise EventValidationError(field, first["msg"]) from exc

    # Routing --------------------------------------------------------------------------------------
    def topic(self, prefix: str = DEFAULT_TOPIC_PREFIX) -> str:
        return topic_for(self.event_type, prefix)

    def partition_key(self) -> bytes:
        return partition_key(self.event_type, self.payload, self.tenant_id).encode()


def topic_for(event_type: EventType | str, prefix: str = DEFAULT_TOPIC_PREFIX) -> str:
    """`argus.<event_type>` (the prefix lets tests and staging run side by side on one broker)."""
    return f"{prefix}.{EventType(event_type).value}"


def partition_key(event_type: EventType | str, payload: dict[str, Any], tenant_id: str) -> str:
    """The seed's rule: project_id / test_suite_id / test_id by family, else the tenant.

    Like the seed's `payload.get(field, tenant_id)`, a present but empty or null key also falls back
    to the tenant, so no event is ever keyed by an empty string.
    """
    field = PARTITION_KEY_FIELD.get(EventType(event_type))
    value = payload.get(field) if field else None
    if value is None or value == "":
        return tenant_id
    return str(value)
