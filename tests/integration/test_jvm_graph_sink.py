"""The JVM graph sink (FailureGraphSink.java) on its own, in a local Flink run against the test stack's FalkorDB and
Neo4j: every element's rows land exactly in both graphs, and a row the stores refuse comes out alone, once, with the
store and its error (for the DLQ), while the rest of its element and of its batch is written."""

from __future__ import annotations

import json
from typing import Any

from pyflink.common import Types
from pyflink.datastream import DataStream
from pyflink.java_gateway import get_gateway

from argus_streams.failures.job import jvm_sink_arguments
from argus_streams.failures.logic import TenantFailures, parse_run
from argus_streams.flink.kit import create_env
from tests.integration.test_failures_job import assert_exact_graph, valid_stream


def aggregated(events: list[Any]) -> list[list[dict]]:
    """The aggregation's output, one element per event (Python's; the JVM's equals it: test_jvm_failures.py)."""
    mirrors: dict[str, dict] = {}
    elements = []
    for event in events:
        run = parse_run(event.to_bytes())
        failures = TenantFailures(run.tenant_id, mirrors.setdefault(run.tenant_id, {}))
        changed = failures.record(run)
        if changed:
            elements.append(failures.rows(changed))
    return elements


def test_rows_land_exactly_and_a_refused_row_comes_out_alone(stack, settings) -> None:  # noqa: ANN001
    tenant = f"{settings.topic_prefix}-jvm-sink"
    events = valid_stream([tenant], per_tenant=200)
    elements = aggregated(events)
    bad = {"kind": "failure", "tenant_id": tenant, "signature": None, "count": 1, "first_seen": "x",
           "last_seen": "x", "error_type": "E", "sample_message": "a null MERGE key: both stores refuse it"}
    elements[7] = [*elements[7], bad]

    env = create_env(parallelism=1)
    stream = env.from_collection([json.dumps(rows) for rows in elements], type_info=Types.STRING())
    sink = get_gateway().jvm.io.argus.streams.flink.FailureGraphSink
    refused = DataStream(sink.write(stream._j_data_stream, *jvm_sink_arguments(settings, neo4j=True), 1))
    with refused.execute_and_collect() as results:
        out = [tuple(row) for row in results]

    assert len(out) == 1, out
    row, store, error_type, message = out[0]
    assert json.loads(row) == bad
    assert store in ("FalkorGraphWriter", "Neo4jGraphWriter") and error_type and message
    assert_exact_graph(settings, events, [tenant])  # every other row of every element, in both graphs
