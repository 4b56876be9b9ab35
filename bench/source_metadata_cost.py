"""What the record-metadata deserializer costs: the same bounded Kafka read, value-only vs with metadata.

    make up && .venv/bin/python -m bench.source_metadata_cost --events 200000

PyFlink's KafkaSource offers value-only deserializers; the jobs use RecordWithMetadataDeserializer
(java/flink-lib) to get topic/partition/offset/key/headers for the DLQ. Both variants read the same
topic to its end in a local mini-cluster at parallelism 2, through one Python operator that touches
the value, and the wall time of each is reported (median of --rounds) with the ratio between them.
"""

from __future__ import annotations

import argparse
import time
import uuid

from pyflink.common import Types, WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

from argus_streams.bus.admin import delete_prefixed_topics, ensure_topics
from argus_streams.bus.gateway import EventGateway
from argus_streams.flink.kit import DESERIALIZER_CLASS, RECORD_TYPE, create_env, java_instance, kafka_properties
from argus_streams.settings import Settings
from bench.failures_throughput import workload


def read_all(settings: Settings, topic: str, with_metadata: bool) -> float:
    env = create_env(parallelism=2)
    if with_metadata:
        stream = env.from_source(_bounded(settings, topic, metadata=True), WatermarkStrategy.no_watermarks(),
                                 "metadata", type_info=RECORD_TYPE)
        stream = stream.map(lambda row: len(row[5]), output_type=Types.INT())
    else:
        stream = env.from_source(_bounded(settings, topic, metadata=False), WatermarkStrategy.no_watermarks(),
                                 "value-only", type_info=Types.STRING())
        stream = stream.map(lambda value: len(value), output_type=Types.INT())
    stream.filter(lambda n: n < 0).print()
    started = time.perf_counter()
    env.execute("bench-source")
    return time.perf_counter() - started


def _bounded(settings: Settings, topic: str, metadata: bool) -> KafkaSource:
    builder = (KafkaSource.builder().set_bootstrap_servers(settings.brokers).set_topics(topic)
               .set_group_id(f"bench-{uuid.uuid4().hex[:6]}")
               .set_starting_offsets(KafkaOffsetsInitializer.earliest())
               .set_bounded(KafkaOffsetsInitializer.latest())
               .set_properties(kafka_properties(settings)))
    if metadata:
        builder._j_builder.setDeserializer(java_instance(DESERIALIZER_CLASS))
    else:
        builder.set_value_only_deserializer(SimpleStringSchema())
    return builder.build()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings.load().as_principal("admin").model_copy(update={"topic_prefix": prefix})
    ensure_topics(settings)
    topic = f"{prefix}.test.failed"
    try:
        with EventGateway(settings) as gateway:
            events = workload(args.events)
            for start in range(0, len(events), 5000):
                gateway.publish_many(events[start:start + 5000])
        times: dict[str, list[float]] = {"value-only": [], "with metadata": []}
        for _ in range(args.rounds):
            times["value-only"].append(read_all(settings, topic, with_metadata=False))
            times["with metadata"].append(read_all(settings, topic, with_metadata=True))
        medians = {name: sorted(values)[len(values) // 2] for name, values in times.items()}
        for name, values in times.items():
            print(f"{name:<14} median {medians[name]:6.1f}s  {args.events / medians[name]:>9,.0f} records/s  "
                  f"(runs: {', '.join(f'{v:.1f}' for v in values)})")
        print(f"metadata/value-only time ratio: {medians['with metadata'] / medians['value-only']:.2f} "
              "(includes the same mini-cluster start-up in both)")
    finally:
        delete_prefixed_topics(settings)


if __name__ == "__main__":
    main()
