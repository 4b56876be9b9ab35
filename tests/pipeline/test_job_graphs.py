"""Every registered job's graph, as `flink run` would submit it: named operators with stable, unique uids.

Savepoints map state to operators by uid, and the web UI shows the names; both must be ours, not Flink's
defaults. The only nodes without a uid are the stateless ones PyFlink inserts itself (the key selector of
`key_by` and the converters of side outputs), whose ids may change without losing state.
"""

from __future__ import annotations

import importlib

import pytest

from argus_streams.flink.cluster import JOBS
from argus_streams.flink.kit import create_env
from argus_streams.settings import Settings

PYFLINK_INTERNAL = {"_stream_key_by_map_operator", "Map"}
FLINK_DEFAULT_NAMES = {"Process", "KeyedProcess", "Map", "FlatMap", "Filter", "Sink: Unnamed", "Source: Custom Source"}


def stream_nodes(name: str) -> list[tuple[str, str | None]]:
    module = importlib.import_module(JOBS[name].module)
    env = create_env(parallelism=2)
    module.build_pipeline(env, Settings())
    nodes = env._j_stream_execution_environment.getStreamGraph(False).getStreamNodes().iterator()
    found = []
    while nodes.hasNext():
        node = nodes.next()
        found.append((str(node.getOperatorName()), node.getTransformationUID()))
    return found


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_operator_has_a_readable_name_and_a_unique_uid(name: str) -> None:
    nodes = stream_nodes(name)
    ours = [(op, uid) for op, uid in nodes if op not in PYFLINK_INTERNAL]
    assert len(ours) >= 4, nodes  # source, at least one Python step, sinks
    missing = [op for op, uid in ours if not uid]
    assert not missing, f"operators without a uid: {missing}"
    uids = [str(uid) for _, uid in ours]
    assert len(uids) == len(set(uids)), uids
    assert not {op for op, _ in ours} & FLINK_DEFAULT_NAMES
    assert any(op.startswith("Source: Kafka") for op, _ in ours)
