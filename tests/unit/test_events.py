"""The event contract against the seed's own serialisation, partition keys and topic catalog."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from argus_streams.contract.events import ArgusEvent, EventType, partition_key, topic_for
from argus_streams.contract.topics import DAY_MS, catalog
from argus_streams.errors import EventValidationError
from tests import seed_reference as seed

PAYLOADS = {
    EventType.CODEBASE_INGESTED: {"project_id": "p-1", "codebase_path": "/srv/app"},
    EventType.CODEBASE_ANALYZED: {"project_id": "p-1", "files": 3},
    EventType.TEST_CREATED: {"test_id": "t-1", "test_suite_id": "s-1", "project_id": "p-1"},
    EventType.TEST_EXECUTED: {"test_id": "t-1", "test_suite_id": "s-1", "status": "passed"},
    EventType.TEST_FAILED: {"test_id": "t-1", "test_suite_id": "s-1", "failure_details": {"message": "ü ✓"}},
    EventType.HEALING_REQUESTED: {"test_id": "t-1", "test_suite_id": "s-1"},
    EventType.HEALING_COMPLETED: {"test_id": "t-1"},
    EventType.DLQ: {"original_topic": "argus.test.failed", "test_id": "t-1"},
}


def seed_event(event_type: EventType, timestamp: datetime, metadata: dict | None = None) -> seed.ArgusEvent:
    return seed.ArgusEvent(
        event_id=str(uuid.uuid4()), event_type=seed.EventType(event_type.value), timestamp=timestamp,
        source="api.tests", tenant_id="tenant-a", correlation_id="corr-1",
        payload=PAYLOADS[event_type], metadata=metadata or {"retry_count": 1},
    )


@pytest.mark.parametrize("event_type", list(EventType))
@pytest.mark.parametrize("timestamp", [datetime(2026, 1, 27, 17, 30, 0, 123456),  # the seed's utcnow()
                                       datetime(2026, 1, 27, 17, 30, tzinfo=UTC)])
def test_seed_json_parses_and_reserialises_byte_for_byte(event_type: EventType, timestamp: datetime) -> None:
    wire = seed_event(event_type, timestamp).to_json()
    ours = ArgusEvent.from_json(wire)
    assert ours.to_json() == wire
    assert ours.event_type is event_type


@pytest.mark.parametrize("event_type", list(EventType))
def test_our_json_parses_with_the_seed(event_type: EventType) -> None:
    ours = ArgusEvent.new(event_type, source="svc", tenant_id="t", payload=PAYLOADS[event_type],
                          metadata={"k": [1, 2]})
    theirs = seed.ArgusEvent.from_json(ours.to_bytes())
    assert theirs.to_json() == ours.to_json()
    assert theirs.timestamp == ours.timestamp


def test_missing_metadata_defaults_to_empty_dict() -> None:
    obj = json.loads(seed_event(EventType.TEST_FAILED, datetime(2026, 1, 1)).to_json())
    del obj["metadata"]
    assert ArgusEvent.from_json(json.dumps(obj)).metadata == {}


def _valid() -> dict:
    return json.loads(ArgusEvent.new("test.failed", source="s", tenant_id="t", payload={}).to_json())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"event_id": str(uuid.uuid1())}, "event_id"),
        ({"event_type": "test.exploded"}, "event_type"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": 1767225600}, "timestamp"),
        ({"tenant_id": ""}, "tenant_id"),
        ({"tenant_id": None}, "tenant_id"),
        ({"payload": "text"}, "payload"),
        ({"source": 7}, "source"),
    ],
)
def test_invalid_field_raises_one_typed_error_naming_it(change: dict, field: str) -> None:
    with pytest.raises(EventValidationError) as info:
        ArgusEvent.from_json(json.dumps({**_valid(), **change}))
    assert info.value.field == field


def test_missing_field_is_named() -> None:
    obj = _valid()
    del obj["correlation_id"]
    with pytest.raises(EventValidationError, match="correlation_id"):
        ArgusEvent.from_json(json.dumps(obj))


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"[1, 2]", b"null", b""])
def test_non_object_input_is_a_validation_error(raw: bytes) -> None:
    with pytest.raises(EventValidationError) as info:
        ArgusEvent.from_json(raw)
    assert info.value.field == "$"


@pytest.mark.parametrize("event_type", list(EventType))
@pytest.mark.parametrize("with_key", [True, False])
def test_partition_key_matches_the_seed(event_type: EventType, with_key: bool) -> None:
    payload = dict(PAYLOADS[event_type]) if with_key else {}
    ours = ArgusEvent.new(event_type, source="s", tenant_id="tenant-a", payload=payload)
    theirs = seed.ArgusEvent.from_json(ours.to_json())
    assert ours.partition_key() == seed.get_partition_key(theirs)


def test_partition_key_fields_by_family() -> None:
    payload = {"project_id": "P", "test_suite_id": "S", "test_id": "T"}
    assert partition_key("codebase.analyzed", payload, "ten") == "P"
    assert partition_key("test.executed", payload, "ten") == "S"
    assert partition_key("healing.completed", payload, "ten") == "T"
    assert partition_key("dlq", payload, "ten") == "ten"


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_partition_key_falls_back_to_tenant(empty: str | None) -> None:
    # The seed would crash on None (.encode of None) and key by b"" on "": both go to the tenant here.
    assert partition_key("test.failed", {"test_suite_id": empty}, "ten") == "ten"


def test_topic_catalog_is_the_seeds_table() -> None:
    table = {spec.name: (spec.partitions, spec.retention_ms // DAY_MS) for spec in catalog()}
    assert table == {
        "argus.codebase.ingested": (6, 7),
        "argus.codebase.analyzed": (6, 7),
        "argus.test.created": (6, 7),
        "argus.test.executed": (6, 7),
        "argus.test.failed": (6, 30),
        "argus.healing.requested": (6, 7),
        "argus.healing.completed": (6, 7),
        "argus.dlq": (3, 30),
    }


def test_topic_is_prefix_dot_event_type() -> None:
    assert topic_for(EventType.HEALING_REQUESTED) == "argus.healing.requested"
    assert topic_for("dlq", prefix="it-1234") == "it-1234.dlq"


def test_a_huge_integer_and_a_time_before_utc_year_1_are_validation_errors() -> None:
    from argus_dev.samples import demo_stream

    with pytest.raises(EventValidationError, match="not valid JSON"):
        ArgusEvent.from_json(b'{"event_id": ' + b"1" * 5000 + b"}")  # a plain ValueError escaped before
    body = demo_stream()[0].to_dict() | {"timestamp": "0001-01-01T01:00:00+05:00"}  # OverflowError before
    with pytest.raises(EventValidationError, match="timestamp"):
        ArgusEvent.from_dict(body)
