from __future__ import annotations

import json
from pathlib import Path

import pytest
from argus_dev.samples import demo_stream

from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.contract.payloads import PAYLOADS, json_schemas, parse_payload
from argus_streams.errors import EventValidationError
from argus_streams.settings import Settings, write_env_file


def test_environment_names_are_the_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDPANDA_BROKERS", "rp-0:9092,rp-1:9092")
    monkeypatch.setenv("KAFKA_MAX_POLL_RECORDS", "100")
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "false")
    settings = Settings.load(stack_env=Path("/nonexistent"))
    assert settings.kafka_client_config()["bootstrap_servers"] == ["rp-0:9092", "rp-1:9092"]
    assert settings.max_poll_records == 100
    assert settings.enable_idempotence is False


def test_environment_wins_over_stack_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_env_file(tmp_path / "stack.env", {"REDPANDA_SASL_PASSWORD": "from-file", "FALKORDB_GRAPH": "g1"})
    monkeypatch.setenv("FALKORDB_GRAPH", "from-env")
    settings = Settings.load(stack_env=tmp_path / "stack.env")
    assert settings.falkordb_graph == "from-env"
    assert settings.sasl_password.get_secret_value() == "from-file"
    assert (tmp_path / "stack.env").stat().st_mode & 0o777 == 0o600


def test_config_output_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDPANDA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("DATABASE_URL", "postgresql://argus:s3cret@db:5432/argus")
    monkeypatch.setenv("FALKORDB_URL", "redis://:pw123@127.0.0.1:6379")
    shown = Settings.load(stack_env=Path("/nonexistent")).masked()
    text = json.dumps(shown)
    assert "hunter2" not in text and "s3cret" not in text and "pw123" not in text
    assert shown["DATABASE_URL"] == "postgresql://argus:********@db:5432/argus"
    assert shown["REDPANDA_SASL_PASSWORD"] == "********"


def test_a_schema_for_the_envelope_and_every_payload() -> None:
    schemas = json_schemas()
    assert set(schemas) == {"argus-event"} | {f"payload.{t.value}" for t in EventType}
    assert set(schemas["argus-event"]["required"]) >= {"event_id", "event_type", "timestamp", "tenant_id"}
    failed = schemas["payload.test.failed"]
    assert {"test_id", "test_suite_id", "failure_details"} <= set(failed["required"])


def test_demo_stream_payloads_are_valid() -> None:
    for event in demo_stream():
        assert type(parse_payload(event)) is PAYLOADS[event.event_type]


def test_missing_payload_field_is_named() -> None:
    event = ArgusEvent.new("test.failed", source="s", tenant_id="t",
                           payload={"test_id": "x", "test_suite_id": "s", "project_id": "p", "run_id": "r",
                                    "build_id": "b", "failure_details": {"message": "m"}})
    with pytest.raises(EventValidationError) as info:
        parse_payload(event)
    assert info.value.field == "payload.failure_details.error_type"


def test_extra_payload_fields_are_kept() -> None:
    event = next(e for e in demo_stream() if e.event_type is EventType.TEST_EXECUTED)
    extended = event.model_copy(update={"payload": {**event.payload, "shard": 3}})
    assert parse_payload(extended).model_extra == {"shard": 3}
