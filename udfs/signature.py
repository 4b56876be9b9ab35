"""The failure signature as a Flink SQL scalar function: `failure_signature(error_type, message, stack, selector)`.

    CREATE TEMPORARY FUNCTION failure_signature AS 'udfs.signature.failure_signature' LANGUAGE PYTHON;
"""

from __future__ import annotations

from pyflink.table import DataTypes
from pyflink.table.udf import udf

from argus_streams.failures.signature import signature_id


@udf(result_type=DataTypes.STRING())
def failure_signature(error_type: str | None, message: str | None, stack_trace: str | None = None,
                      selector: str | None = None) -> str:
    """The same id the failure job stores on `(:Failure {signature})`."""
    return signature_id(error_type or "", message or "", stack_trace or "", selector)
