"""The failure pipeline: test.failed + test.executed -> the failure graph.

    logic.py      parse, per-test history and flakiness, per-signature tallies (no Flink)
    signature.py  the failure signature (also a Flink SQL function: udfs/signature.py)
    graph.py      the failure graph's upserts in FalkorDB and Neo4j; queries.py reads it back
    job.py        the Flink job: operators, `build_pipeline`, `main`

Pickled before this was a package as `argus_streams.failures.<name>`, the names below stay here (see _legacy.py).
"""

from argus_streams.failures.logic import EdgeTally, FailureTally, SignatureStats, TestHistory, TestRun

__all__ = ["EdgeTally", "FailureTally", "SignatureStats", "TestHistory", "TestRun"]
