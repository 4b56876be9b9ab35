"""The broker's authorizer grants each principal exactly what bus/principals.py says, and refuses the rest.

Every other integration test runs with these ACLs on too: each job reads and writes as its own principal, so a
grant it lacked would fail its test. Here the refusals: each principal writing each topic, the gateway reading,
a job using another job's consumer group, and `publish` of an event a producer may not send.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from argus_streams.bus.principals import GATEWAY, HEALING_JOB, PRINCIPALS, Principal
from argus_streams.contract.events import ArgusEvent, EventType, topic_for
from tests.conftest import cli_env

TIMEOUT_S = 15


def as_principal(stack, prefix: str, principal: Principal):  # noqa: ANN001, ANN201
    settings = stack.settings(principal.name).model_copy(update={"topic_prefix": prefix})
    assert settings.sasl_username == principal.name
    return settings


def write(settings, topic: str) -> str:  # noqa: ANN001
    # Not idempotent: a principal that may write no topic at all is refused earlier, at InitProducerId
    # (ClusterAuthorizationFailed), and this asks about each topic.
    producer = KafkaProducer(**settings.kafka_client_config(), acks="all", enable_idempotence=False,
                             max_block_ms=TIMEOUT_S * 1000)
    try:
        producer.send(topic, key=b"k", value=b"{}").get(timeout=TIMEOUT_S)
        return "written"
    except TopicAuthorizationFailedError:
        return "refused"
    finally:
        producer.close(timeout=5)


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p.name)
def test_each_principal_writes_exactly_its_topics(stack, prefix: str, principal: Principal) -> None:  # noqa: ANN001
    settings = as_principal(stack, prefix, principal)
    outcome = {event_type: write(settings, topic_for(event_type, prefix)) for event_type in EventType}
    assert outcome == {t: "written" if t in principal.writes else "refused" for t in EventType}


def test_producers_never_write_a_jobs_output_and_only_the_healing_job_writes_healing_completed(stack, prefix) -> None:  # noqa: ANN001, E501
    completed = topic_for(EventType.HEALING_COMPLETED, prefix)
    writers = {p.name for p in PRINCIPALS if write(as_principal(stack, prefix, p), completed) == "written"}
    assert writers == {HEALING_JOB.name}
    gateway = as_principal(stack, prefix, GATEWAY)
    for output in (EventType.HEALING_COMPLETED, EventType.CODEBASE_ANALYZED, EventType.DLQ):
        assert write(gateway, topic_for(output, prefix)) == "refused", output


def test_the_gateway_reads_nothing_and_a_job_reads_only_its_topics(stack, prefix, settings) -> None:  # noqa: ANN001
    """One record on partition 0 of two topics (written as admin): a principal granted READ gets it, any other gets
    nothing (the client logs the refusal and returns no records)."""
    producer = KafkaProducer(**settings.kafka_client_config(), acks="all")
    for event_type in (EventType.TEST_FAILED, EventType.HEALING_COMPLETED):
        producer.send(topic_for(event_type, prefix), value=b"{}", partition=0).get(timeout=TIMEOUT_S)
    producer.close(timeout=5)

    def read(principal: Principal, event_type: EventType) -> str:
        client = as_principal(stack, prefix, principal)
        consumer = KafkaConsumer(**client.kafka_client_config(), enable_auto_commit=False,
                                 request_timeout_ms=TIMEOUT_S * 1000 + 1000)
        got = 0
        try:
            consumer.assign([TopicPartition(topic_for(event_type, prefix), 0)])
            consumer.seek_to_beginning()
            deadline = time.monotonic() + 8
            while not got and time.monotonic() < deadline:
                got = sum(len(batch) for batch in consumer.poll(timeout_ms=500).values())
            return "read" if got else "refused"
        except TopicAuthorizationFailedError:
            return "refused"
        finally:
            consumer.close()

    failures_job = next(p for p in PRINCIPALS if p.job == "failures")
    assert read(failures_job, EventType.TEST_FAILED) == "read"  # the same wait finds what is granted
    assert read(GATEWAY, EventType.TEST_FAILED) == "refused"
    assert read(failures_job, EventType.HEALING_COMPLETED) == "refused"
    assert read(HEALING_JOB, EventType.HEALING_COMPLETED) == "read"


def test_a_job_cannot_use_another_jobs_consumer_group(stack, prefix) -> None:  # noqa: ANN001
    failures_job = next(p for p in PRINCIPALS if p.job == "failures")
    settings = as_principal(stack, prefix, failures_job)
    topic = topic_for(EventType.TEST_FAILED, prefix)

    def commit(group: str) -> str:
        consumer = KafkaConsumer(**settings.kafka_client_config(), group_id=group, enable_auto_commit=False,
                                 request_timeout_ms=TIMEOUT_S * 1000 + 1000)
        try:
            from kafka.structs import OffsetAndMetadata
            consumer.assign([TopicPartition(topic, 0)])
            consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(0, "", -1)})
            return "committed"
        except GroupAuthorizationFailedError:
            return "refused"
        finally:
            consumer.close()

    assert commit("argus-flink-failures-" + prefix) == "committed"  # its own group's namespace
    assert commit(f"{prefix}-failures") == "committed"  # a non-default prefix's namespace
    assert commit("argus-flink-healing") == "refused"  # the healing job's group


def test_publish_refuses_an_event_no_producer_may_send(stack, prefix, tmp_path: Path) -> None:  # noqa: ANN001
    forged = ArgusEvent.new(EventType.HEALING_COMPLETED, source="forger", tenant_id="acme",
                            payload={"test_id": "t1", "signature": "s", "status": "healed", "source": "healer",
                                     "fix": {"selector": "#x", "strategy": "forged", "confidence": 1.0},
                                     "cache_key": "argus"})
    allowed = ArgusEvent.new(EventType.TEST_CREATED, source="api.tests", tenant_id="acme",
                             payload={"test_id": "t1", "test_name": "n", "test_type": "e2e", "project_id": "p",
                                      "test_suite_id": "s", "test_spec": {}})
    lines = tmp_path / "events.jsonl"
    lines.write_text(allowed.to_json() + "\n" + forged.to_json() + "\n")
    done = subprocess.run([sys.executable, "-m", "argus_streams.cli", "publish", str(lines)],
                          env=cli_env(stack, ARGUS_TOPIC_PREFIX=prefix), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0, done.stdout
    assert "TopicAuthorizationFailed" in done.stdout + done.stderr, done.stdout + done.stderr
