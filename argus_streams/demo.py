"""The README's main command: bring the stack up, publish a sample event stream, read it back."""

from __future__ import annotations

import time
from collections import Counter

from argus_streams.events import ArgusEvent
from argus_streams.gateway import EventGateway
from argus_streams.kafka_io import read_records
from argus_streams.samples import demo_stream
from argus_streams.stack.manager import Stack
from argus_streams.topics import catalog


def run_demo(stack: Stack) -> int:
    stack.up()
    settings = stack.settings()
    events = demo_stream()
    wanted = {event.event_id for event in events}
    started = time.perf_counter()
    with EventGateway(settings) as gateway:
        acks = gateway.publish_many(events)
    print(f"\npublished {len(acks)} events in {time.perf_counter() - started:.2f}s (acks=all, idempotent, gzip)")
    records = read_records(settings, [spec.name for spec in catalog(settings.topic_prefix)], expected=10**9,
                           timeout_s=8)
    seen: Counter[str] = Counter()
    for record in records:
        event = ArgusEvent.from_json(record.value)
        if event.event_id in wanted:
            seen[record.topic] += 1
            headers = {k: v.decode() for k, v in record.headers}
            print(f"  read {record.topic:<26} p{record.partition} key={record.key.decode():<10} "
                  f"tenant={headers['tenant_id']:<7} id={event.event_id[:8]}")
    found = sum(seen.values())
    print(f"read back {found}/{len(events)} of this run's events")
    return 0 if found == len(events) else 1
