"""The signature UDF in Flink SQL gives the id the failure job stores."""

from __future__ import annotations

import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

from argus_streams.failures.signature import signature_id
from udfs.signature import failure_signature


def test_udf_in_flink_sql_matches_the_job() -> None:
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.get_config().set("python.executable", sys.executable)
    env.get_config().set("parallelism.default", "1")
    env.create_temporary_function("failure_signature", failure_signature)
    rows = [("TimeoutError", "Timeout 3000ms exceeded", "", "#a"), ("TimeoutError", "Timeout 9ms exceeded", "", "#a"),
            ("KeyError", "'x'", "", None)]
    table = env.from_elements(rows, ["error_type", "message", "stack", "selector"])
    env.create_temporary_view("failures", table)
    result = env.execute_sql(
        "SELECT failure_signature(error_type, message, stack, selector) AS sig, COUNT(*) AS n "
        "FROM failures GROUP BY failure_signature(error_type, message, stack, selector)")
    with result.collect() as out:
        counts = {row[0]: row[1] for row in out}
    assert counts == {signature_id("TimeoutError", "Timeout 1ms exceeded", "", "#a"): 2,
                      signature_id("KeyError", "'x'"): 1}
