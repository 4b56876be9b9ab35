"""The side-by-side benchmark's pure parts: the seed's query parameters, Quix state round trips, the
rows of the bulk contender, the profile summary and the figures; no stack."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict

from argus_dev.samples import failed_event

from argus_streams.failures.logic import SignatureStats, TestHistory, parse_run
from argus_streams.failures.signature import compute
from bench.contenders import (
    SEED_MERGE,
    history_from_state,
    history_to_state,
    record_history,
    record_signature,
    seed_params,
    stats_from_state,
)
from bench.failures_throughput import workload
from bench.procstats import hot_frames
from bench.side_by_side import Phase, bulk_rows, percentile_ms, probe_events, ratios, summarise


class FakeState:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def get(self, key: str) -> object:
        return self.values.get(key)

    def set(self, key: str, value: object) -> None:
        self.values[key] = value


def test_seed_query_is_parameterised_and_keyed_like_the_project_graph():
    event = failed_event(random.Random(1), tenant="t1", suite="s", test="t-1", signature_id=3, run=1)
    params = seed_params(event)
    assert params == {"tenant_id": "t1", "signature": compute(event.payload["failure_details"]).id,
                      "timestamp": event.timestamp.isoformat(), "test_id": "t-1"}
    assert all(f"${name}" in SEED_MERGE for name in params)
    assert "COALESCE(f.count, 0) + 1" in SEED_MERGE


def test_quix_state_round_trips_through_json():
    import json

    events = workload(40)
    history, stats = TestHistory(), SignatureStats()
    for event in events[:3]:
        run = parse_run(event.to_bytes())
        history.record(run)
        stats.record(run)
    again = history_from_state(json.loads(json.dumps(history_to_state(history))))
    assert again == history and list(again.builds) == list(history.builds)
    assert stats_from_state(json.loads(json.dumps(asdict(stats)))) == stats
    assert history_from_state(None) == TestHistory() and stats_from_state(None) == SignatureStats()


def test_quix_steps_count_each_event_once():
    state, sig_states = FakeState(), {}
    event = workload(1)[0]
    run = asdict(parse_run(event.to_bytes()))
    first = record_history(run, state)
    assert first is not None and record_history(run, state) is None  # a replayed event is counted once
    key = f"{run['tenant_id']}\x1f{run['signature']}"
    test_row, failure_row = record_signature(first, sig_states.setdefault(key, FakeState()))
    assert test_row["kind"] == "test" and failure_row["kind"] == "failure" and failure_row["count"] == 1


def test_bulk_rows_end_with_the_published_counts():
    events = workload(300)
    final = {}
    for row in bulk_rows(events):
        if row["kind"] == "failure":
            final[(row["tenant_id"], row["signature"])] = row["count"]
    assert final == Counter((e.tenant_id, compute(e.payload["failure_details"]).id) for e in events)


def test_probes_have_one_signature_each():
    probes = probe_events("probe-x", 20)
    assert len({compute(p.payload["failure_details"]).id for p in probes}) == 20
    assert {p.tenant_id for p in probes} == {"probe-x"}


def test_hot_frames_self_and_inclusive_shares():
    shares = hot_frames(["main;parse;loads (json.py:3) 2", "main;parse;loads (json.py:9) 1", "main;write 1", "x"])
    assert shares["self"][0] == ("loads (json.py)", 0.75)
    assert dict(shares["inclusive"])["main"] == 1.0


def test_figures_are_medians_of_verified_runs_only():
    phases = [Phase("seed", 1, events=100, elapsed_s=1.0, verified=True),
              Phase("seed", 2, events=100, elapsed_s=0.5, verified=True),
              Phase("seed", 3, events=100, elapsed_s=0.25, verified=True),
              Phase("flink", 1, events=100, elapsed_s=0.1, verified=False)]
    summary = summarise(phases, ["seed", "flink"])
    assert summary["seed"]["events_per_s"] == 200 and summary["seed"]["min"] == 100
    assert summary["flink"]["events_per_s"] is None and summary["flink"]["verified"] == 0
    assert ratios(summary)["flink/seed"] is None
    assert percentile_ms([0.1, 0.2, 0.3], 0.5) == 200 and percentile_ms([], 0.99) is None
