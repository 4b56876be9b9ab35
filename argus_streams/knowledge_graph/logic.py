"""The knowledge-graph job's logic, without Flink: records -> requests -> graph rows and codebase.analyzed events.

Fields read beyond payloads.py's models (extra payload fields are kept by the contract):
- test.created: `targets` (or `test_spec.targets`): the code the test exercises, as "path::Qual.name",
  "Qual.name" or "name"; each is linked (Test)-[:TESTS]->(Function|Class) in the test's project.
- test.failed: `failure_details.stack_trace`: every frame naming a function of the project links
  (Test)-[:FAILED_IN {signature}]->(Function); the signature is the failure job's, so it joins its Failure.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from argus_streams.contract import dead_letters
from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.contract.payloads import CodebaseAnalyzed, CodebaseIngested, TestCreated, TestFailed, parse_payload
from argus_streams.errors import EventValidationError
from argus_streams.failures import signature
from argus_streams.failures.logic import UnexpectedEventType, iso_utc
from argus_streams.flink.spec import KNOWLEDGE_GRAPH
from argus_streams.knowledge_graph.cognify import CodeGraph, GraphDiff, stable_id
from argus_streams.knowledge_graph.frames import stack_frames
from argus_streams.knowledge_graph.model import PROJECT, Extraction
from argus_streams.knowledge_graph.paths import MAX_PATH_CHARS

if TYPE_CHECKING:
    from argus_streams.knowledge_graph.vectors import VectorDiff

KG_EVENTS = frozenset({EventType.CODEBASE_INGESTED, EventType.TEST_CREATED, EventType.TEST_FAILED})
SOURCE = KNOWLEDGE_GRAPH.source
MAX_REPORTED_ERRORS = 20  # parse errors listed by path in codebase.analyzed (all are counted)
MAX_SPEC_CHARS = 10_000
MAX_TARGETS = 1_000  # code targets one test.created may link (each is a lookup in the graph write)
MAX_TARGET_CHARS = 1_000  # "path::Qual.name"; PATH_MAX-long paths are not code a test names


@dataclass(frozen=True)
class Request:
    """One valid event for the job, with the Kafka record it came from (for the DLQ's error context)."""

    event: ArgusEvent
    payload: Any
    record: dead_letters.SourceRecord

    @property
    def key(self) -> str:
        """(tenant, documented partition key): project_id for codebase events, test_suite_id for test events."""
        return f"{self.event.tenant_id}\x00{self.event.partition_key().decode()}"

    @property
    def kind(self) -> EventType:
        return self.event.event_type


def parse_request(record: dead_letters.SourceRecord) -> Request:
    """Raises EventValidationError / UnexpectedEventType for anything the job cannot use (-> DLQ)."""
    event = ArgusEvent.from_json(record.value or b"")
    if event.event_type not in KG_EVENTS:
        raise UnexpectedEventType(f"event_type {event.event_type.value!r} is not read by the knowledge-graph job")
    payload = parse_payload(event)
    if isinstance(payload, CodebaseIngested):
        _check_codebase_path(payload.codebase_path)
    return Request(event=event, payload=payload, record=record)


def _check_codebase_path(path: str) -> None:
    """What can be refused without the allowed root (resolve_codebase checks that, and traversal, at analysis)."""
    if len(path) > MAX_PATH_CHARS:
        raise EventValidationError("payload.codebase_path", f"{len(path)} characters (max {MAX_PATH_CHARS})")
    if "\x00" in path:
        raise EventValidationError("payload.codebase_path", "NUL in path")


class KeyLocks:
    """One asyncio.Lock per key while someone holds or waits for it: a key's entry goes with its last user, so
    the map holds the keys in flight (at most the operator's capacity), not every project ever seen."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def project_node_id(tenant: str, project: str) -> str:
    return stable_id(tenant, project, PROJECT, project)


def _targets(payload: TestCreated) -> list[str]:
    extra = payload.model_extra or {}
    targets = extra.get("targets")
    if targets is None and isinstance(payload.test_spec, dict):
        targets = payload.test_spec.get("targets")
    if targets is None:
        return []
    if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
        raise EventValidationError("payload.targets", "expected a list of non-empty strings")
    if len(targets) > MAX_TARGETS or any(len(t) > MAX_TARGET_CHARS for t in targets):
        raise EventValidationError("payload.targets",
                                   f"at most {MAX_TARGETS} targets of at most {MAX_TARGET_CHARS} characters")
    return sorted(set(targets))


def _spec_text(spec: Any) -> str | None:
    if isinstance(spec, str) or spec is None:
        return spec
    try:  # the envelope parsed it, but re-encoding runs deeper in the stack (and may meet a NaN)
        return json.dumps(spec, sort_keys=True)
    except (RecursionError, ValueError, TypeError) as exc:
        raise EventValidationError("payload.test_spec", f"cannot be encoded: {type(exc).__name__}") from exc


def created_row(event: ArgusEvent, payload: TestCreated) -> dict[str, Any]:
    spec = _spec_text(payload.test_spec)
    return {"kind": "created", "tenant_id": event.tenant_id, "test_id": payload.test_id,
            "project_id": payload.project_id, "project_node": project_node_id(event.tenant_id, payload.project_id),
            "name": payload.test_name, "test_type": payload.test_type, "suite_id": payload.test_suite_id,
            "spec": spec[:MAX_SPEC_CHARS] if spec else None, "targets": _targets(payload)}


def failed_row(event: ArgusEvent, payload: TestFailed) -> dict[str, Any]:
    details = payload.failure_details
    sig = signature.compute(details.model_dump())
    return {"kind": "failed", "tenant_id": event.tenant_id, "test_id": payload.test_id,
            "project_id": payload.project_id, "signature": sig.id, "error_type": sig.error_type,
            "failed_at": iso_utc(event.timestamp), "frames": stack_frames(details.stack_trace)}


def graph_row(request: Request) -> dict[str, Any]:
    if isinstance(request.payload, TestCreated):
        return created_row(request.event, request.payload)
    if isinstance(request.payload, TestFailed):
        return failed_row(request.event, request.payload)
    raise TypeError(f"no graph row for {request.kind.value}")


def analyzed_id(ingested_event_id: str) -> str:
    """A stable id per ingested event: a replay after a restart publishes the same event id (consumers dedupe)."""
    derived = uuid.uuid5(uuid.NAMESPACE_URL, f"argus:codebase.analyzed:{ingested_event_id}")
    return str(uuid.UUID(bytes=derived.bytes, version=4))


def analyzed_event(request: Request, graph: CodeGraph, extraction: Extraction, changes: GraphDiff,
                   duration_ms: float, vectors: VectorDiff | None = None, enriched: dict[str, int] | None = None,
                   now: datetime | None = None) -> ArgusEvent:
    """codebase.analyzed for an ingested codebase: counts of what it holds and of what was written."""
    payload: CodebaseIngested = request.payload
    errors = extraction.parse_errors
    body = {
        "project_id": payload.project_id,
        "files": len(extraction.files),
        "entities": graph.entity_count,
        "edges": len(graph.edges),
        "parse_errors": len(errors),
        "duration_ms": round(duration_ms, 1),
        "commit_sha": payload.commit_sha,
        "codebase_path": payload.codebase_path,
        "nodes_written": len(changes.nodes), "nodes_deleted": len(changes.gone_nodes),
        "edges_written": len(changes.edges), "edges_deleted": len(changes.gone_edges),
        "embeddings_written": vectors.written if vectors else 0,
        "embeddings_deleted": vectors.deleted if vectors else 0,
        "parse_error_files": dict(sorted(errors.items())[:MAX_REPORTED_ERRORS]),
        "files_skipped": extraction.skipped_count,  # not read at all: codegraph/paths.py's caps and checks
        "skipped_files": extraction.skipped,  # the same, by reason ({"not_regular": 1, "max_files": 40})
        **({"documents": enriched["documents"], "concepts": enriched["concepts"]} if enriched else {}),
    }
    CodebaseAnalyzed.model_validate(body)  # the contract's required fields, checked before publishing
    return ArgusEvent(
        event_id=analyzed_id(request.event.event_id), event_type=EventType.CODEBASE_ANALYZED,
        timestamp=now or datetime.now(UTC), source=SOURCE, tenant_id=request.event.tenant_id,
        correlation_id=request.event.correlation_id, payload=body,
        metadata={"ingested_event_id": request.event.event_id},
    )
