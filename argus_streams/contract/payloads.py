"""The payload of each event type: the one place that documents the fields the jobs rely on.

Unknown fields are kept (producers may add context), required ones are checked. The JSON Schemas
exported by `argus-streams schema` are generated from these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.errors import EventValidationError

Id = Field(min_length=1, max_length=512)


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    __test__ = False  # `TestFailed` & co. are payloads, not pytest classes


class CodebaseIngested(Payload):
    """A codebase to analyse; large data is referenced, never inlined."""

    project_id: str = Id
    codebase_path: str = Field(min_length=1, description="local directory, file:// URI or git repository path")
    commit_sha: str | None = None


class CodebaseAnalyzed(Payload):
    project_id: str = Id
    files: int = Field(ge=0)
    entities: int = Field(ge=0)
    edges: int = Field(ge=0)
    parse_errors: int = Field(ge=0)
    duration_ms: float = Field(ge=0)


class TestCreated(Payload):
    test_id: str = Id
    test_name: str
    test_type: str
    project_id: str = Id
    test_spec: Any = None
    test_suite_id: str | None = None


class _TestRun(Payload):
    """Fields every test-run event carries; a run is tied to a build or, failing that, a commit."""

    test_id: str = Id
    test_suite_id: str = Id
    project_id: str = Id
    run_id: str = Id
    build_id: str | None = Field(None, max_length=512)
    commit_sha: str | None = Field(None, max_length=512)

    @model_validator(mode="after")
    def _build_or_commit(self) -> _TestRun:
        if not (self.build_id or self.commit_sha):
            raise ValueError("build_id or commit_sha is required")
        return self

    @property
    def build(self) -> str:
        return self.build_id or self.commit_sha or ""


class FailureDetails(Payload):
    error_type: str = Field(min_length=1, max_length=512)
    message: str
    stack_trace: str = ""
    selector: str | None = None
    url: str | None = None
    dom_snapshot: str | None = Field(None, description="page HTML at failure time (the locator healer reads it)")
    browser: str | None = None
    last_known_element: dict[str, Any] | None = Field(
        None, description="the element the selector matched in the last passing run: tag, id, classes, text, "
                          "attributes, path")


class TestFailed(_TestRun):
    failure_details: FailureDetails


class TestExecuted(_TestRun):
    status: Literal["passed", "failed", "skipped"]
    duration_ms: float = Field(ge=0)


class HealingRequested(Payload):
    """Published by the healing decision on a cache miss; the healer answers with healing.completed."""

    test_id: str = Id
    test_suite_id: str | None = None
    signature: str = Field(min_length=1)
    failure_details: FailureDetails
    failure_class: str | None = Field(None, description="why it is healable (healing/classify.py)")
    cache_key: str | None = Field(None, description="where the fix is cached once healed")


class HealingFix(Payload):
    selector: str
    strategy: str
    confidence: float = Field(ge=0, le=1)


class HealingCompleted(Payload):
    test_id: str = Id
    signature: str = Field(min_length=1)
    status: Literal["healed", "unhealable"]
    source: Literal["cache", "healer"]
    fix: HealingFix | None = None
    reason: str | None = Field(None, description="why it is unhealable")
    success_rate: float | None = Field(None, description="cached fixes: successes / tries so far")
    cache_key: str | None = None


class DeadLetter(Payload):
    """The seed's DLQ payload: where the record came from, the record itself, and why it failed."""

    original_topic: str
    original_partition: int | None
    original_offset: int | None
    original_key: str | None
    original_value: str
    error_type: str
    error_message: str
    error_traceback: str


PAYLOADS: dict[EventType, type[Payload]] = {
    EventType.CODEBASE_INGESTED: CodebaseIngested,
    EventType.CODEBASE_ANALYZED: CodebaseAnalyzed,
    EventType.TEST_CREATED: TestCreated,
    EventType.TEST_EXECUTED: TestExecuted,
    EventType.TEST_FAILED: TestFailed,
    EventType.HEALING_REQUESTED: HealingRequested,
    EventType.HEALING_COMPLETED: HealingCompleted,
    EventType.DLQ: DeadLetter,
}


def parse_payload(event: ArgusEvent) -> Payload:
    """The typed payload of an event; a missing or wrong field raises `EventValidationError`."""
    model = PAYLOADS[event.event_type]
    try:
        return model.model_validate(event.payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(["payload", *(str(part) for part in first["loc"])])
        raise EventValidationError(field, first["msg"]) from exc


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of the envelope and of each event type's payload, keyed by file stem."""
    schemas = {"argus-event": ArgusEvent.model_json_schema(by_alias=True)}
    for event_type, model in PAYLOADS.items():
        schema = model.model_json_schema()
        schema["title"] = f"{event_type.value} payload"
        schemas[f"payload.{event_type.value}"] = schema
    return schemas
