"""Follow the healing topics: wait for the answer to one failure (demo, benchmarks)."""

from __future__ import annotations

import json
import time
from typing import Any

from argus_streams.bus.io import consumer
from argus_streams.settings import Settings


class HealingWatch:
    """Reads healing.requested/completed from their end; `answer(correlation_id)` waits for a completion."""

    def __init__(self, settings: Settings):
        prefix = settings.topic_prefix
        self.reader = consumer(settings, [f"{prefix}.healing.requested", f"{prefix}.healing.completed"],
                               auto_offset_reset="latest")
        self.seen: dict[str, tuple[float, dict[str, Any]]] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        self.reader.poll(timeout_ms=1000)  # join the partitions before anything is published

    def poll(self, timeout_ms: int = 100) -> None:
        for batch in self.reader.poll(timeout_ms=timeout_ms).values():
            now = time.perf_counter()
            for record in batch:
                event = json.loads(record.value)
                if event["event_type"] == "healing.requested":
                    self.requests[event["correlation_id"]] = event
                else:
                    self.seen.setdefault(event["correlation_id"], (now, event))

    def answer(self, correlation_id: str, timeout_s: float = 60) -> tuple[float, dict[str, Any]]:
        """(arrival time on perf_counter, the healing.completed event)."""
        deadline = time.monotonic() + timeout_s
        while correlation_id not in self.seen:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no healing.completed for correlation_id {correlation_id}")
            self.poll()
        return self.seen[correlation_id]

    def close(self) -> None:
        self.reader.close()
