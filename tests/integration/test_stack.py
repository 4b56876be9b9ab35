"""The stack the suite started: every service healthy, topics exactly as the catalog, `up` idempotent."""

from __future__ import annotations

import time

import requests

from argus_streams.bus import admin
from argus_streams.contract.topics import catalog


def test_every_service_is_healthy(stack) -> None:  # noqa: ANN001
    statuses = {row.name: row for row in stack.status()}
    assert set(statuses) == {"kafka", "flink", "falkordb", "neo4j", "postgres"}
    assert all(row.healthy for row in statuses.values()), statuses


def test_topics_match_the_catalog(stack) -> None:  # noqa: ANN001
    rows = admin.describe(stack.settings("admin"))
    assert [(r["topic"], r["partitions"], r["retention_ms"]) for r in rows] == [
        (spec.name, spec.partitions, spec.retention_ms) for spec in catalog()
    ]


def test_up_again_changes_nothing(stack) -> None:  # noqa: ANN001
    lines: list[str] = []
    stack.up(report=lines.append)
    topic_lines = [line for line in lines if line.startswith("topic ")]
    assert len(topic_lines) == 8 and all(" ok " in line for line in topic_lines), topic_lines


def test_topic_drift_is_fixed(stack, prefix) -> None:  # noqa: ANN001
    from kafka.admin import ConfigResource, ConfigResourceType

    settings = stack.settings("admin").model_copy(update={"topic_prefix": prefix})
    with admin.admin_client(settings) as client:
        client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, f"{prefix}.dlq",
                                             configs={"retention.ms": "1000"})], raise_on_unknown=False)
        # The controller applies config changes to the broker asynchronously: wait until it shows.
        deadline = time.monotonic() + 10
        while admin.topic_configs(client, [f"{prefix}.dlq"])[f"{prefix}.dlq"]["retention.ms"] != "1000":
            assert time.monotonic() < deadline, "the broker never applied the drifted config"
            time.sleep(0.2)
    reports = {r.spec.name: r for r in admin.ensure_topics(settings)}
    assert reports[f"{prefix}.dlq"].actions == ["retention.ms -> 2592000000"]
    assert all(r.status == "ok" for name, r in reports.items() if name != f"{prefix}.dlq")


def test_flink_web_ui_answers(stack) -> None:  # noqa: ANN001
    overview = requests.get(f"{stack.settings().flink_rest_url}/overview", timeout=5).json()
    assert overview["taskmanagers"] >= 1 and overview["slots-total"] >= 2
    assert "Apache Flink" in requests.get(stack.settings().flink_rest_url, timeout=5).text


def test_no_jar_can_be_uploaded_through_the_rest_api(stack) -> None:  # noqa: ANN001
    """web.submit.enable is off: a local user cannot run a jar in the TaskManager (which holds the stack's
    secrets) through the web UI or REST; the jobs themselves are submitted with `flink run` (other tests)."""
    rest = stack.settings().flink_rest_url
    features = requests.get(f"{rest}/config", timeout=5).json()["features"]
    assert features["web-submit"] is False
    upload = requests.post(f"{rest}/jars/upload", files={"jarfile": ("x.jar", b"PK\x03\x04", "application/java")},
                           timeout=5)
    assert upload.status_code == 400 and "not allowed" in upload.text, upload.text
    assert requests.get(f"{rest}/jars", timeout=5).status_code != 200
