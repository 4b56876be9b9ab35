"""The JVM aggregation (FailureEntries.java) computes what Python's TenantFailures computes, row for row: the same
runs go through both, and after every run the rows of what it changed must be equal (no stack; a JVM)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from pyflink.java_gateway import get_gateway

from argus_streams.failures.logic import (
    FLAKINESS_WINDOW_BUILDS,
    MAX_EVENTS_PER_BUILD,
    TEST_RUN_FIELDS,
    TenantFailures,
    TestRun,
    run_fields,
)
from argus_streams.flink.kit import create_env


def random_runs(rng: random.Random, n: int) -> list[TestRun]:
    """Few tenants, tests, builds and signatures so that keys repeat; duplicate deliveries; more builds than the
    flakiness window; equal timestamps (the sample's tie-break is the event id); empty and non-ASCII text."""
    runs: list[TestRun] = []
    for i in range(n):
        if runs and rng.random() < 0.1:
            runs.append(rng.choice(runs))  # a producer retry: the same event again
            continue
        failed = rng.random() < 0.6
        signature = rng.choice([f"v1:{k:024x}" for k in range(4)] + [None]) if failed else None
        runs.append(TestRun(
            event_id=f"{rng.getrandbits(64):016x}-{i}", tenant_id=rng.choice(["acme", "globex", "t\u00e9"]),
            suite_id=rng.choice(["s1", "s2"]), test_id=rng.choice(["t0", "t1", "t\U0001f600", "t/3"]),
            run_id=f"r{i}", build=f"b{rng.randrange(FLAKINESS_WINDOW_BUILDS + 10)}", failed=failed,
            at=f"2026-12-01T10:00:{rng.randrange(60):02d}.000000Z", signature=signature,
            error_type=rng.choice(["TimeoutError", "", None]) if signature else None,
            message=rng.choice(["", "x 'q\"\\' \n\t\u2028 \U0001f600", "#btn not found"]) if signature else None,
        ))
    return runs


def python_rows(runs: list[TestRun]) -> list[Any]:
    mirrors: dict[str, dict] = {}
    out: list[Any] = []
    for run in runs:
        failures = TenantFailures(run.tenant_id, mirrors.setdefault(run.tenant_id, {}))
        changed = failures.record(run)
        out.append(None if changed is None else sorted(failures.rows(changed), key=json.dumps))
    return out


def java_rows(runs: list[TestRun]) -> Any:
    gateway = get_gateway()
    rows = gateway.jvm.java.util.ArrayList()
    for run in runs:
        fields = gateway.new_array(gateway.jvm.Object, len(TEST_RUN_FIELDS))
        for index, value in enumerate(run_fields(run)):
            fields[index] = value
        rows.add(gateway.jvm.org.apache.flink.types.Row.of(fields))
    return rows


def jvm_rows(runs: list[TestRun]) -> list[Any]:
    out = get_gateway().jvm.io.argus.streams.flink.FailureEntries.replay(java_rows(runs))
    return [None if text == "null" else sorted(json.loads(text), key=json.dumps) for text in out]


@pytest.fixture(scope="module")
def jvm() -> None:
    create_env(parallelism=1)  # starts the gateway JVM with the job's jars


@pytest.mark.parametrize("seed", range(5))
def test_jvm_rows_equal_pythons_after_every_run(jvm: None, seed: int) -> None:  # noqa: ARG001
    runs = random_runs(random.Random(seed), 600)
    expected, got = python_rows(runs), jvm_rows(runs)
    assert sum(rows is None for rows in expected) > 0  # duplicates were in the input
    assert any(row["flakiness"] not in (0, 1) for rows in expected if rows for row in rows if row["kind"] == "test")
    mismatches = [(i, runs[i], want, have) for i, (want, have) in enumerate(zip(expected, got, strict=True))
                  if want != have]
    assert mismatches == []


def test_a_lone_surrogate_is_bad_data_before_it_reaches_the_jvm() -> None:
    run = random_runs(random.Random(1), 1)[0]
    bad = TestRun(**{**run.__dict__, "test_id": json.loads('"t\\ud800"')})
    with pytest.raises(UnicodeEncodeError):
        run_fields(bad)


def test_one_tests_state_stays_bounded_however_many_events_and_builds(jvm: None) -> None:  # noqa: ARG001
    """A stream of one test's events: 1,500 in one build, then one each in 60 more builds. Its history keeps the
    last 20 builds and at most 1,000 ids a build; evicted builds take their ids with them."""
    one = random_runs(random.Random(3), 1)[0]
    runs = [TestRun(**{**one.__dict__, "event_id": f"e{n}", "build": "b0", "failed": n % 2 == 0, "signature": None})
            for n in range(MAX_EVENTS_PER_BUILD + 500)]
    sizes = get_gateway().jvm.io.argus.streams.flink.FailureEntries.sizesAfter(java_rows(runs))
    assert list(sizes[one.tenant_id]) == [2, MAX_EVENTS_PER_BUILD]  # the history and one build's ids
    runs += [TestRun(**{**one.__dict__, "event_id": f"x{n}", "build": f"b{n + 1}", "signature": None})
             for n in range(60)]
    sizes = get_gateway().jvm.io.argus.streams.flink.FailureEntries.sizesAfter(java_rows(runs))
    assert list(sizes[one.tenant_id]) == [1 + FLAKINESS_WINDOW_BUILDS, FLAKINESS_WINDOW_BUILDS]
    assert python_rows(runs) == jvm_rows(runs)
