"""The topic catalog: one topic per event type, with the seed's partitions and retention."""

from __future__ import annotations

from dataclasses import dataclass

from argus_streams.contract.events import DEFAULT_TOPIC_PREFIX, EventType, topic_for

DAY_MS = 24 * 60 * 60 * 1000
DEFAULT_PARTITIONS = 6
DEFAULT_RETENTION_DAYS = 7

# Only the exceptions to the defaults are listed: failures and the DLQ are kept 30 days for review.
_PARTITIONS = {EventType.DLQ: 3}
_RETENTION_DAYS = {EventType.TEST_FAILED: 30, EventType.DLQ: 30}
# A dead letter wraps the original record and its error context, so it may exceed the 1 MiB default.
DLQ_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    name: str
    event_type: EventType
    partitions: int
    retention_days: int

    @property
    def retention_ms(self) -> int:
        return self.retention_days * DAY_MS

    def configs(self) -> dict[str, str]:
        """Topic configs we own (Redpanda and Kafka both honour these)."""
        configs = {"retention.ms": str(self.retention_ms), "cleanup.policy": "delete"}
        if self.event_type is EventType.DLQ:
            configs["max.message.bytes"] = str(DLQ_MAX_MESSAGE_BYTES)
        return configs


def catalog(prefix: str = DEFAULT_TOPIC_PREFIX) -> list[TopicSpec]:
    """All 8 topics, in the seed's order."""
    return [
        TopicSpec(
            name=topic_for(event_type, prefix),
            event_type=event_type,
            partitions=_PARTITIONS.get(event_type, DEFAULT_PARTITIONS),
            retention_days=_RETENTION_DAYS.get(event_type, DEFAULT_RETENTION_DAYS),
        )
        for event_type in EventType
    ]


def spec_for(event_type: EventType | str, prefix: str = DEFAULT_TOPIC_PREFIX) -> TopicSpec:
    return next(spec for spec in catalog(prefix) if spec.event_type == EventType(event_type))
