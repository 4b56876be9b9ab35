"""`topics ensure` returns once the broker serves what it created: the controller commits a new topic before the
broker's metadata shows it, and a `topics list` right after once found one missing (CI's test stack)."""

from __future__ import annotations

import pytest

from argus_streams.bus.admin import _wait_until_served
from argus_streams.contract.topics import catalog
from argus_streams.errors import StoreUnavailable

SPECS = catalog("t")


class LaggingBroker:
    """describe_topics as kafka-python returns it: the first `lag` answers miss a topic, then one partition has
    no leader yet, then everything is served."""

    def __init__(self, lag: int):
        self.lag, self.calls = lag, 0

    def describe_topics(self) -> list[dict]:
        self.calls += 1
        topics = [{"name": spec.name, "partitions": [{"partition_index": i, "leader_id": 1}
                                                     for i in range(spec.partitions)]} for spec in SPECS]
        if self.calls <= self.lag:
            topics.pop(0)
        elif self.calls == self.lag + 1:
            topics[0]["partitions"][0]["leader_id"] = -1
        return topics


def test_ensure_waits_until_every_topic_is_served_with_its_partitions_and_leaders() -> None:
    broker = LaggingBroker(lag=3)
    _wait_until_served(broker, SPECS)  # type: ignore[arg-type]
    assert broker.calls == 5  # 3 answers without the topic, 1 with a partition without a leader, then served


def test_ensure_says_which_topics_the_broker_never_served() -> None:
    broker = LaggingBroker(lag=10**9)
    with pytest.raises(StoreUnavailable, match=SPECS[0].name):
        _wait_until_served(broker, SPECS, timeout_s=0.3)  # type: ignore[arg-type]
