"""An async operator's timeout answers the record instead of failing the task (PyFlink's default raises,
and the restarted task meets the same record again: a crash loop)."""

from __future__ import annotations

import json

from argus_dev.samples import demo_stream
from pyflink.common import Row

from argus_streams.contract import dead_letters
from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.dlq import job as dlq_job
from argus_streams.dlq import triage
from argus_streams.healing import job as healing
from argus_streams.knowledge_graph import job as knowledge_graph
from argus_streams.knowledge_graph.logic import parse_request
from argus_streams.settings import Settings

PREFIX = "argus"


def sample(event_type: EventType) -> ArgusEvent:
    return next(e for e in demo_stream() if e.event_type is event_type)


def source_record(event: ArgusEvent, offset: int) -> dead_letters.SourceRecord:
    return dead_letters.SourceRecord(topic=event.topic(PREFIX), partition=3, offset=offset, key=event.tenant_id,
                                     value=event.to_bytes(), headers={"tenant_id": event.tenant_id}, timestamp_ms=1)


def test_a_knowledge_graph_record_past_its_timeout_is_dead_lettered_and_retried() -> None:
    load = knowledge_graph.KnowledgeGraphLoad(Settings(topic_prefix=PREFIX))
    load.metrics = None  # open() would connect the stores; the timeout needs none of them
    for offset, event_type in enumerate((EventType.CODEBASE_INGESTED, EventType.TEST_CREATED)):
        event = sample(event_type)
        request = parse_request(source_record(event, offset))
        [row] = load.timeout(Row(request.key, request))  # keyed input arrives as Row(key, value)
        topic, key, value, headers = row
        assert topic == f"{PREFIX}.dlq" and headers[dead_letters.RETRY_COUNT_HEADER] == "1"  # its first failure
        letter = json.loads(value)
        assert letter["payload"]["error_type"] == "OperationTimeout"
        assert "not handled within 900 s" in letter["payload"]["error_message"]
        assert letter["payload"]["original_topic"] == event.topic(PREFIX)
        assert (letter["payload"]["original_partition"], letter["payload"]["original_offset"]) == (3, offset)
        # the DLQ job retries it (not a data error): republished to its topic, unchanged, after a backoff
        decision = dlq_job.decide(dead_letters.SourceRecord(topic=topic, partition=0, offset=9, key=key,
                                                            value=value.encode(), headers=headers), PREFIX)
        assert isinstance(decision, triage.Retry), decision
        assert decision.topic == event.topic(PREFIX) and decision.value == event.to_json()
        assert decision.delay_ms == triage.backoff_ms(1) and decision.headers[dead_letters.RETRY_COUNT_HEADER] == "1"


class Counted:
    def __init__(self) -> None:
        self.counts: list[tuple[str, dict]] = []

    def count(self, name: str, value: int = 1, **labels: str) -> None:
        self.counts.append((name, labels))


def test_a_heal_past_its_timeout_is_an_unhealable_answer_saying_so() -> None:
    heal = healing.Heal(Settings(topic_prefix=PREFIX))
    heal.metrics = Counted()
    request = sample(EventType.HEALING_REQUESTED)
    [row] = heal.timeout(request)
    topic, key, value, headers = row
    completed = ArgusEvent.from_json(value)
    assert topic == f"{PREFIX}.healing.completed" and completed.event_type is EventType.HEALING_COMPLETED
    assert completed.payload["status"] == "unhealable"
    assert completed.payload["reason"] == "the healer did not answer within 120 s"
    assert (completed.tenant_id, completed.correlation_id) == (request.tenant_id, request.correlation_id)
    assert completed.payload["test_id"] == request.payload["test_id"]
    assert heal.metrics.counts == [("healing_outcomes", {"outcome": "unhealable", "source": "timeout"})]


def test_a_cache_lookup_past_its_timeout_is_a_miss() -> None:
    lookup = healing.CacheLookup(Settings(topic_prefix=PREFIX))
    lookup.metrics = Counted()
    item = healing.Routed("acme", "t-login", failure=object())  # type: ignore[arg-type]
    assert lookup.timeout(item) == [item]
    assert item.cached is None
    assert lookup.metrics.counts == [("fix_cache_lookups", {"result": "timeout"})]


def test_a_routed_tuple_from_an_older_checkpoint_is_read_as_a_routed_record() -> None:
    """Before Routed, the cache lookup's queue (checkpointed with the job) held tuples: they still decide."""
    failure, fix, completed = object(), {"selector": "#go"}, object()
    assert healing.Routed.of(("acme", "t-1", "failed", failure)) == healing.Routed("acme", "t-1", failure=failure)
    assert healing.Routed.of(("acme", "t-1", "failed", failure, fix)).cached == fix
    assert healing.Routed.of(("acme", "t-1", "completed", completed, None)).completed is completed
    assert healing.Routed.of(("acme", "t-1", "executed", ("passed", "e-1"), None)).run == ("passed", "e-1")
    assert healing.Routed("acme", "t-1").key == "acme\x1ft-1"
