"""The pictures the docs and the benchmark draw: what they show must be what the numbers say."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.chart import write_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_the_benchmark_chart_draws_each_contender_to_scale(tmp_path: Path) -> None:
    summary = {
        "bare": {"events_per_s": 10_000.0, "min": 9_000.0, "max": 11_000.0},
        "flink": {"events_per_s": 1_000.0, "min": 900.0, "max": 1_100.0, "p50_ms": 500, "p99_ms": 2_000},
        "seed": {"events_per_s": 100.0, "min": 100.0, "max": 100.0, "p50_ms": 10, "p99_ms": 40},
        "not-run": {"events_per_s": None},
    }
    results = tmp_path / "results-x.json"
    results.write_text(json.dumps({"events": 200_000, "event_bytes": 990, "runs": 3, "cores": 2,
                                   "summary": summary}))
    root = ET.parse(write_chart(results)).getroot()
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "side by side: 200,000 events of 990 B, median of 3 run(s), 2 cores" in texts
    assert {"bare", "flink", "seed"} <= set(texts) and "not-run" not in texts
    assert {"10,000", "1,000", "100"} <= set(texts)
    assert {"p50 500", "p99 2,000", "p50 10", "p99 40"} <= set(texts)
    # log scale, decades 100..10,000: each contender's bar is one decade (a third of the axis) longer
    bars = [float(r.get("width")) for r in root.iter(f"{SVG}rect")][:3]
    assert bars[0] > bars[1] > bars[2] and abs((bars[0] - bars[1]) - (bars[1] - bars[2])) < 0.5


def test_the_topology_is_drawn_left_to_right_from_the_plan() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_topology", Path(__file__).parents[2] / "docs" /
                                                  "gen_topology.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plan = {"nodes": [
        {"id": 1, "type": "Source: Kafka", "pact": "Data Source", "parallelism": 2},
        {"id": 3, "type": "Parse", "pact": "Operator", "parallelism": 2,
         "predecessors": [{"id": 1, "ship_strategy": "HASH"}]},
        {"id": 5, "type": "Kafka: argus.dlq: Writer", "pact": "Operator", "parallelism": 2,
         "predecessors": [{"id": 3, "ship_strategy": "FORWARD"}, {"id": 1, "ship_strategy": "FORWARD"}]},
    ]}
    assert module.layout(plan["nodes"]) == {1: (0, 0), 3: (1, 0), 5: (2, 0)}  # longest path from the source
    drawn = module.svg("failures", plan)
    assert re.findall(r">(HASH|FORWARD)<", drawn) == ["HASH", "FORWARD", "FORWARD"]
    assert "argus-failures: execution plan" in drawn and "data sink, parallelism 2" in drawn
