"""The JVM graph sink's writes (GraphWrites.java) plan and encode a batch as Python's graph.py does: the same
newest row per key (WritePlan), the same FalkorDB parameter text as its Python client, the same error policy."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from falkordb.helpers import stringify_param_value
from pyflink.java_gateway import get_gateway

from argus_streams.failures.graph import WritePlan
from argus_streams.flink.kit import create_env
from tests.pipeline.test_jvm_failures import python_rows, random_runs


@pytest.fixture(scope="module")
def writes() -> Any:
    create_env(parallelism=1)  # starts the gateway JVM with the job's jars
    return get_gateway().jvm.io.argus.streams.flink.GraphWrites


def batch(seed: int) -> list[dict[str, Any]]:
    """Rows of many flushes in one batch: keys repeat with older and newer counts; plus per-event failure rows
    that carry their edge (the other row shape WritePlan reads)."""
    rows = [row for rows in python_rows(random_runs(random.Random(seed), 400)) if rows for row in rows]
    random.Random(seed).shuffle(rows)
    edges = [r for r in rows if r["kind"] == "edge"][:20]
    rows += [{**r, "kind": "failure", "count": r["edge_count"], "first_seen": r["edge_last_seen"],
              "last_seen": r["edge_last_seen"], "error_type": "E", "sample_message": "m"} for r in edges]
    return rows


@pytest.mark.parametrize("seed", range(4))
def test_the_plan_keeps_the_newest_row_per_key_as_python_does(writes: Any, seed: int) -> None:
    rows = batch(seed)
    expected = WritePlan.of(rows)
    got = json.loads(writes.planJson(json.dumps(rows)))
    assert len(rows) > len(expected.failures) + len(expected.edges) + len(expected.tests)  # keys repeated
    assert got == {"failures": expected.failures, "edges": expected.edges, "tests": expected.tests}


def test_falkordb_parameters_are_written_as_its_python_client_writes_them(writes: Any) -> None:
    rows = [{"tenant_id": "o'brien\"}})-[:X]->() DETACH DELETE n //", "signature": "v1:\\\\ \" \n \t \u2028 \U0001f600",
             "count": 3, "flakiness": 0.35, "none": None, "empty": "", "nested": [1, "two", {"k": 0.0}]}]
    for row in batch(1)[:50]:
        rows.append(row)
    assert writes.falkordbLiteral(json.dumps(rows)) == stringify_param_value(rows)


def test_errors_are_retried_dead_lettered_or_fatal_as_graph_py_decides(writes: Any) -> None:
    jvm = get_gateway().jvm
    neo4j = jvm.org.neo4j.driver.exceptions
    jedis = jvm.redis.clients.jedis.exceptions
    cases = {
        jedis.JedisConnectionException("connection reset"): "TRANSIENT",  # down or slow: backoff, backpressure
        jedis.JedisDataException("LOADING the dataset in memory"): "TRANSIENT",
        neo4j.ServiceUnavailableException("no route"): "TRANSIENT",
        neo4j.TransientException("Neo.TransientError.Transaction.DeadlockDetected", "deadlock"): "TRANSIENT",
        jedis.JedisDataException("errMsg: Invalid input at end of input"): "DATA",  # a query error: the DLQ
        neo4j.ClientException("Neo.ClientError.Statement.SemanticError", "null property value"): "DATA",
        jedis.JedisDataException("WRONGPASS invalid username-password pair"): "FATAL",  # configuration
        jedis.JedisAccessControlException("NOPERM"): "FATAL",
        neo4j.AuthenticationException("Neo.ClientError.Security.Unauthorized", "bad credentials"): "FATAL",
        jvm.java.lang.IllegalStateException("a bug in the writer"): "FATAL",  # never dead-lettered as data
    }
    assert {str(error): writes.classify(error).name() for error in cases} == {str(e): k for e, k in cases.items()}
