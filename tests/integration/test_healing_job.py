"""The self-healing flow on the real stack: failure -> request -> healer -> completed -> cached -> cache hit."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections import defaultdict
from typing import Any

import redis
from argus_dev import flink_metrics
from argus_dev.samples import PAGE_AFTER_UI_CHANGE, executed_event, locator_failure

from argus_streams.bus.gateway import EventGateway
from argus_streams.bus.io import consumer
from argus_streams.failures.queries import falkordb_rows, neo4j_rows
from argus_streams.flink import cluster
from argus_streams.healing.decisions import FIX_TTL_S
from tests.llm_standin import ClaudeStandIn, Text

PAGE = PAGE_AFTER_UI_CHANGE
GONE = "<!doctype html><html><body><main><p>Your cart is empty</p></main></body></html>"
failure = locator_failure


class HealingTopics:
    """Everything published on the healing topics so far, read incrementally."""

    def __init__(self, settings: Any):
        prefix = settings.topic_prefix
        self.reader = consumer(settings, [f"{prefix}.healing.requested", f"{prefix}.healing.completed"])
        self.events: dict[str, list[dict]] = defaultdict(list)

    def poll(self) -> None:
        for batch in self.reader.poll(timeout_ms=300).values():
            for record in batch:
                event = json.loads(record.value)
                self.events[event["event_type"]].append(event)

    def wait(self, what: str, predicate: Any, timeout_s: float = 90) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll()
            found = [e for e in self.events["healing.completed"] + self.events["healing.requested"] if predicate(e)]
            if found:
                return found
        raise AssertionError(f"timed out waiting for {what}; seen: {dict(self.events)}")

    def of(self, event_type: str, correlation_id: str) -> list[dict]:
        return [e for e in self.events[event_type] if e["correlation_id"] == correlation_id]


def test_failure_heal_cache_then_cache_hit(stack, settings) -> None:  # noqa: ANN001
    tenant = f"{settings.topic_prefix}-shop"
    job_id = cluster.submit(settings, "healing", stack_env=stack.layout.secrets_file, job_args=(
        "--topic-prefix", settings.topic_prefix, "--graph", settings.falkordb_graph,
        "--group-id", f"{settings.topic_prefix}-healing"))
    cache = redis.Redis.from_url(settings.cache_url.get_secret_value())
    topics = HealingTopics(settings)
    try:
        cluster.wait_running(settings, job_id)
        with EventGateway(settings) as gateway:
            first = failure(tenant, "t-order", "#place-order", PAGE, seed=1)
            gateway.publish(first)
            topics.wait("the healer's answer", lambda e: e["correlation_id"] == first.correlation_id
                        and e["event_type"] == "healing.completed")
            requested = topics.of("healing.requested", first.correlation_id)
            completed = topics.of("healing.completed", first.correlation_id)
            assert len(requested) == 1 and len(completed) == 1
            answer = completed[0]["payload"]
            assert answer["source"] == "healer" and answer["status"] == "healed"
            assert answer["fix"]["selector"] == "#place-order-btn" and answer["fix"]["strategy"] == "locator"

            key = requested[0]["payload"]["cache_key"]
            deadline = time.monotonic() + 30
            while not cache.exists(key):
                assert time.monotonic() < deadline, "the fix was never cached"
                time.sleep(0.2)
            assert FIX_TTL_S - 60 <= cache.ttl(key) <= FIX_TTL_S
            assert cache.hget(key, "selector") == b"#place-order-btn"

            again = failure(tenant, "t-order", "#place-order", PAGE, seed=2)
            gateway.publish(again)
            hit = topics.wait("a cache hit", lambda e: e["correlation_id"] == again.correlation_id)
            assert [e["event_type"] for e in hit] == ["healing.completed"]
            assert hit[0]["payload"]["source"] == "cache" and hit[0]["payload"]["fix"]["selector"] == "#place-order-btn"

            fixes = falkordb_rows(settings, "MATCH (f:Failure {tenant_id: $t})-[:FIXED_BY]->(x:Fix) "
                                  "RETURN x.selector AS selector, x.strategy AS strategy", {"t": tenant})
            assert fixes == [{"selector": "#place-order-btn", "strategy": "locator"}]
            fixed_by = ("MATCH (f:Failure {tenant_id: $t})-[:FIXED_BY]->(x:Fix) "
                        "RETURN x.selector AS selector, x.strategy AS strategy")
            deadline = time.monotonic() + 30  # Neo4j is written right after FalkorDB
            while neo4j_rows(settings, fixed_by, {"t": tenant}) != fixes:
                assert time.monotonic() < deadline, neo4j_rows(settings, fixed_by, {"t": tenant})
                time.sleep(0.3)

            # The served fix keeps failing: its outcomes are counted and it is evicted, never served again.
            for run in range(3):
                gateway.publish(executed_event(random.Random(run), tenant=tenant, suite="checkout", test="t-order",
                                               run=500 + run, status="failed"))
            deadline = time.monotonic() + 30
            while cache.exists(key):
                assert time.monotonic() < deadline, "a failing fix was never evicted"
                time.sleep(0.2)
            count_fixes = "MATCH (x:Fix {tenant_id: $t}) RETURN x.failure_count AS n"
            deadline = time.monotonic() + 30
            while neo4j_rows(settings, count_fixes, {"t": tenant}) != [{"n": 3}]:
                assert time.monotonic() < deadline, neo4j_rows(settings, count_fixes, {"t": tenant})
                time.sleep(0.3)
            assert falkordb_rows(settings, count_fixes, {"t": tenant}) == [{"n": 3}]

            # 200 identical failures while the first request is in flight: one request.
            burst = [failure(tenant, "t-burst", "#gone", GONE, seed=100 + i) for i in range(200)]
            gateway.publish_many(burst)
            topics.wait("the burst's answer", lambda e: e["event_type"] == "healing.completed"
                        and e["payload"]["test_id"] == "t-burst")
            time.sleep(3)
            topics.poll()
            burst_requests = [e for e in topics.events["healing.requested"] if e["payload"]["test_id"] == "t-burst"]
            assert len(burst_requests) == 1
            bad = [e for e in topics.events["healing.completed"] if e["payload"]["test_id"] == "t-burst"]
            assert len(bad) == 1 and bad[0]["payload"]["status"] == "unhealable"  # the element is gone
            assert "locator" in bad[0]["payload"]["reason"]
            assert not cache.exists(burst_requests[0]["payload"]["cache_key"])

        # The job's own metrics from the TaskManager's Prometheus endpoint: what went through each step.
        expected = {("events", "event_type", "test_failed"): 202, ("events", "event_type", "test_executed"): 3,
                    ("events", "event_type", "healing_requested"): 2, ("events", "event_type", "healing_completed"): 3,
                    ("fix_cache_lookups", "result", "hit"): 1, ("fix_cache_lookups", "result", "miss"): 201,
                    ("healing_outcomes", "source", "healer"): 2, ("healing_outcomes", "source", "cache"): 1,
                    ("healing_outcomes", "outcome", "unhealable"): 1}

        def scraped() -> dict:
            metrics = flink_metrics.job_metrics(stack.layout, job_id=job_id)
            return {key: flink_metrics.total(metrics, key[0], **{key[1]: key[2]}) for key in expected}
        deadline = time.monotonic() + 60
        while scraped() != expected:
            assert time.monotonic() < deadline, scraped()
            time.sleep(1)
    finally:
        topics.reader.close()
        cache.close()
        cluster.cancel(settings, job_id)


def test_in_flight_requests_survive_a_restart_from_checkpoint(stack, settings) -> None:  # noqa: ANN001
    """With the healer elsewhere (not answering), a request stays in flight; after a restart from the last
    checkpoint the same failure must not ask again."""
    tenant = f"{settings.topic_prefix}-restart"
    args = ("--topic-prefix", settings.topic_prefix, "--graph", settings.falkordb_graph,
            "--group-id", f"{settings.topic_prefix}-healing", "--without-healer")
    job_id = cluster.submit(settings, "healing", stack_env=stack.layout.secrets_file, job_args=args)
    topics = HealingTopics(settings)
    try:
        cluster.wait_running(settings, job_id)
        with EventGateway(settings) as gateway:
            first = failure(tenant, "t-order", "#place-order", PAGE, seed=11)
            gateway.publish(first)
            topics.wait("the request", lambda e: e["correlation_id"] == first.correlation_id)
            checkpoint = cluster.wait_checkpoints(settings, job_id, count=1)
            cluster.cancel(settings, job_id)

            job_id = cluster.submit(settings, "healing", from_path=checkpoint,
                                    stack_env=stack.layout.secrets_file, job_args=args)
            cluster.wait_running(settings, job_id)
            again = failure(tenant, "t-order", "#place-order", PAGE, seed=12)
            gateway.publish(again)
            control = failure(tenant, "t-other", "#place-order", PAGE, seed=13)  # proves the job is deciding
            gateway.publish(control)
            topics.wait("the control request", lambda e: e["correlation_id"] == control.correlation_id)
            time.sleep(2)
            topics.poll()
        requests = [e for e in topics.events["healing.requested"] if e["payload"]["test_id"] == "t-order"]
        assert len(requests) == 1, requests  # the in-flight mark came back with the checkpoint
        assert topics.of("healing.requested", again.correlation_id) == []
    finally:
        topics.reader.close()
        cluster.cancel(settings, job_id)


NO_MATCH = "<!doctype html><html><body><main><div role='button' aria-label='Buy'>Buy</div></main></body></html>"


def test_the_llm_heals_what_the_locator_cannot_inside_the_job(stack, settings, monkeypatch) -> None:  # noqa: ANN001
    """ARGUS_LLM_* where the job is submitted turn the LLM strategy on in the running job: the locator finds
    nothing similar to `#place-order` in this page, the Claude stand-in (the Messages API, on 127.0.0.1)
    answers, and its fix is published and cached like any other."""
    tenant = f"{settings.topic_prefix}-llm"
    reply = Text('{"selector": "[aria-label=Buy]", "confidence": 0.7, "reason": "same action, new markup"}')
    cache = redis.Redis.from_url(settings.cache_url.get_secret_value())
    with ClaudeStandIn([reply]) as claude:
        monkeypatch.setenv("ARGUS_LLM_BASE_URL", claude.base_url)
        monkeypatch.setenv("ARGUS_LLM_API_KEY", claude.api_key)
        job_id = cluster.submit(settings, "healing", stack_env=stack.layout.secrets_file, job_args=(
            "--topic-prefix", settings.topic_prefix, "--graph", settings.falkordb_graph,
            "--group-id", f"{settings.topic_prefix}-healing"))
        topics = HealingTopics(settings)
        try:
            cluster.wait_running(settings, job_id)
            for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/config", f"/jobs/{job_id}/plan"):  # the web UI's views
                with urllib.request.urlopen(settings.flink_rest_url.rstrip("/") + path, timeout=10) as shown:
                    assert claude.api_key not in shown.read().decode(), path
            failed = failure(tenant, "t-buy", "#place-order", NO_MATCH, seed=31)
            with EventGateway(settings) as gateway:
                gateway.publish(failed)
            topics.wait("the healer's answer", lambda e: e["correlation_id"] == failed.correlation_id
                        and e["event_type"] == "healing.completed")
            (completed,) = topics.of("healing.completed", failed.correlation_id)
            payload = completed["payload"]
            assert payload["status"] == "healed" and payload["source"] == "healer", payload
            assert payload["fix"] == {"selector": "[aria-label=Buy]", "strategy": "llm", "confidence": 0.7}
            (call,) = claude.requests
            assert call.path == "/v1/messages" and call.headers["x-api-key"] == claude.api_key
            assert "#place-order" in json.dumps(call.json["messages"])
            (requested,) = topics.of("healing.requested", failed.correlation_id)
            key = requested["payload"]["cache_key"]
            deadline = time.monotonic() + 30
            while cache.hget(key, "selector") != b"[aria-label=Buy]":
                assert time.monotonic() < deadline, "the LLM's fix was never cached"
                time.sleep(0.2)
        finally:
            topics.reader.close()
            cache.close()
            cluster.cancel(settings, job_id)
