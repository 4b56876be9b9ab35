"""Publishing files of events and reading topics back: the plumbing the CLI, demo and tests share."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer
from tqdm import tqdm

from argus_streams.bus.gateway import EventGateway
from argus_streams.contract.events import ArgusEvent
from argus_streams.errors import EventValidationError
from argus_streams.settings import Settings

PUBLISH_BATCH = 500
PROGRESS_MIN_BYTES = 1_000_000


@dataclass(frozen=True)
class PublishSummary:
    per_topic: Counter[str]
    rejected: list[tuple[int, str]]  # (line number, error)


def read_jsonl(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield number, line


def publish_file(gateway: EventGateway, path: Path, topic: str | None = None) -> PublishSummary:
    """Publish every valid event of a JSONL file; invalid lines are reported with their line number."""
    per_topic: Counter[str] = Counter()
    rejected: list[tuple[int, str]] = []
    batch: list[ArgusEvent] = []
    show = path.stat().st_size >= PROGRESS_MIN_BYTES
    with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, disable=not show, desc=path.name) as bar:
        for number, line in read_jsonl(path):
            bar.update(len(line.encode()))
            try:
                batch.append(ArgusEvent.from_json(line))
            except EventValidationError as exc:
                rejected.append((number, str(exc)))
            if len(batch) >= PUBLISH_BATCH:
                _publish_batch(gateway, batch, topic, per_topic)
        _publish_batch(gateway, batch, topic, per_topic)
    return PublishSummary(per_topic, rejected)


def _publish_batch(gateway: EventGateway, batch: list[ArgusEvent], topic: str | None, counts: Counter[str]) -> None:
    for metadata in gateway.publish_many(batch, topic=topic):
        counts[metadata.topic] += 1
    batch.clear()


def consumer(settings: Settings, topics: Iterable[str], group: str | None = None, **overrides: Any) -> KafkaConsumer:
    """A consumer from the earliest offset; without a group it commits nothing (a read-only look)."""
    config: dict[str, Any] = {
        **settings.kafka_client_config(),
        "group_id": group,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "consumer_timeout_ms": 1000,
        # The jobs' sinks are transactional: never show records of open or aborted transactions.
        "isolation_level": "read_committed",
        "client_id": f"argus-reader-{uuid.uuid4().hex[:8]}",
    }
    config.update(overrides)
    return KafkaConsumer(*topics, **config)


def read_records(settings: Settings, topics: Iterable[str], expected: int, timeout_s: float = 30.0) -> list[Any]:
    """Read until `expected` records arrived or the timeout passed; returns the ConsumerRecords."""
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    reader = consumer(settings, topics)
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        reader.close()
    return records
