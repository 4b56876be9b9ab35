"""What every PyFlink job shares: the environment, Kafka sources with record metadata, headered sinks.

PyFlink's Kafka source gives values only and its sink cannot write headers; the small Java
(de)serializers built by `pom.xml` into target/flink-lib fill both gaps (see java/flink-lib).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyflink.common import Configuration, Row, Types
from pyflink.common.time import Time
from pyflink.datastream import (
    AsyncRetryStrategy,
    CheckpointingMode,
    DataStream,
    KeyedStream,
    OutputTag,
    StreamExecutionEnvironment,
)
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import (
    KafkaOffsetResetStrategy,
    KafkaOffsetsInitializer,
    KafkaSink,
    KafkaSource,
)
from pyflink.datastream.functions import ProcessFunction, RuntimeContext
from pyflink.datastream.state import StateTtlConfig
from pyflink.java_gateway import get_gateway
from pyflink.util.java_utils import load_java_class

from argus_streams.bus.principals import job_principal
from argus_streams.contract import dead_letters
from argus_streams.contract.events import EventType, topic_for
from argus_streams.errors import ConfigurationError
from argus_streams.flink.counters import JobMetrics
from argus_streams.home import REPO_ROOT
from argus_streams.settings import Settings
from argus_streams.stores.policy import is_data_error

# Where `mvn package` puts the jobs' jars; images set ARGUS_FLINK_LIB (docker/flink/Dockerfile: /opt/flink/usrlib).
FLINK_LIB = Path(os.environ.get("ARGUS_FLINK_LIB", REPO_ROOT / "target" / "flink-lib"))
DESERIALIZER_CLASS = "io.argus.streams.flink.RecordWithMetadataDeserializer"
# (tenant_id read in the JVM, record): a keyed stream without a Python key selector (see keyed_by_first_field).
TENANT_KEYED_DESERIALIZER_CLASS = "io.argus.streams.flink.TenantKeyedRecordDeserializer"
SERIALIZER_CLASS = "io.argus.streams.flink.HeaderedRecordSerializer"
# The SQL connector shades the Kafka client: JAAS must name the shaded login module.
SCRAM_LOGIN_MODULE = "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule"
CHECKPOINT_INTERVAL_MS = 10_000
STATE_CACHE_SIZE = 100_000
# A bundle ends after this long (or 100k records); every key it touched is then committed to the JVM
# (~0.6 ms a key, measured), so longer bundles trade latency for throughput. Measured with the failure
# job: 100 ms -> p50 0.6 s / 440 events/s; 1000 ms -> p50 3.5 s / 665 events/s (5,000 signatures).
BUNDLE_TIME_MS = 500
# Transactions must outlive a checkpoint interval plus a restart, and stay under the broker's max (15 min).
TRANSACTION_TIMEOUT_MS = 900_000
# Dead letters wrap the original record plus its error context; the DLQ topic accepts up to this much
# (dead_letters.MAX_DEAD_LETTER_BYTES keeps every dead letter well below it).
MAX_RECORD_BYTES = 16 * 1024 * 1024

# Positional twins of RecordWithMetadataDeserializer.FIELDS and HeaderedRecordSerializer's input.
RECORD_TYPE = Types.ROW_NAMED(
    ["topic", "partition", "offset", "timestamp", "key", "value", "headers"],
    [Types.STRING(), Types.INT(), Types.LONG(), Types.LONG(), Types.STRING(),
     Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.MAP(Types.STRING(), Types.STRING())],
)
OUT_RECORD_TYPE = Types.ROW_NAMED(
    ["topic", "key", "value", "headers"],
    [Types.STRING(), Types.STRING(), Types.STRING(), Types.MAP(Types.STRING(), Types.STRING())],
)
# TenantKeyedRecordDeserializer's rows: (tenant key, record).
TENANT_KEYED_RECORD_TYPE = Types.ROW([Types.STRING(), RECORD_TYPE])
# The side output every job routes bad input to (tags are equal by name and type).
DLQ_TAG = OutputTag("dlq", OUT_RECORD_TYPE)
# Graph writes in async I/O are retried in two layers: a transient error inside the call (retry_transient,
# exponential backoff 0.2 s -> 10 s, up to 10 min); a call that still fails, by Flink 5 more times (1 s ->
# 30 s) before the task fails over to its last checkpoint. Data errors are never retried.
GRAPH_RETRY = AsyncRetryStrategy.exponential_backoff(
    max_attempts=5, initial_delay=1000, max_retry_delay=30_000, multiplier=2.0,
    result_predicate=None, exception_predicate=lambda exc: not is_data_error(exc),
)


def lib_jars() -> list[str]:
    jars = sorted(FLINK_LIB.glob("*.jar"))
    if not any(j.name.startswith("argus-flink-lib") for j in jars):
        raise ConfigurationError(f"no jars in {FLINK_LIB}: run `make jars` (mvn package) first")
    return [j.as_uri() for j in jars]


def create_env(parallelism: int = 2, extra: dict[str, str] | None = None) -> StreamExecutionEnvironment:
    """An environment with our jars, checkpointing, and this interpreter for the Python workers."""
    config = Configuration()
    config.set_string("python.executable", sys.executable)
    config.set_string("python.client.executable", sys.executable)
    config.set_string("python.fn-execution.bundle.size", "100000")
    # See flink-conf/config.yaml: a shared Python worker takes the TaskManager down when an operator fails.
    config.set_string("python.fn-execution.memory.managed", "false")
    config.set_string("python.fn-execution.bundle.time", str(BUNDLE_TIME_MS))
    # Keyed state lives in the JVM; every miss of the Python-side cache is a blocking round trip.
    # The defaults (1000 keys) thrash with thousands of (tenant, suite) and (tenant, signature) keys.
    config.set_string("python.state.cache-size", str(STATE_CACHE_SIZE))
    config.set_string("python.map-state.read-cache-size", str(STATE_CACHE_SIZE))
    config.set_string("python.map-state.write-cache-size", str(STATE_CACHE_SIZE))
    # The job owns its recovery contract: a cancelled job keeps its checkpoints to restart from.
    config.set_string("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    for key, value in (extra or {}).items():
        config.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_parallelism(parallelism)
    env.add_jars(*lib_jars())
    env.enable_checkpointing(CHECKPOINT_INTERVAL_MS, CheckpointingMode.EXACTLY_ONCE)
    return env


def kafka_properties(settings: Settings) -> dict[str, str]:
    props = {"security.protocol": settings.security_protocol}
    if settings.security_protocol.startswith("SASL"):
        user = settings.sasl_username.replace('"', '\\"')
        password = settings.sasl_password.get_secret_value().replace('"', '\\"')
        props["sasl.mechanism"] = settings.sasl_mechanism
        props["sasl.jaas.config"] = f'{SCRAM_LOGIN_MODULE} required username="{user}" password="{password}";'
    return props


def kafka_source(settings: Settings, topics: list[str], group_id: str,
                 deserializer: str = DESERIALIZER_CLASS) -> KafkaSource:
    """Committed offsets of `group_id` (earliest when none), committed back on every checkpoint."""
    builder = (
        KafkaSource.builder()
        .set_bootstrap_servers(settings.brokers)
        .set_topics(*topics)
        .set_group_id(group_id)
        .set_starting_offsets(KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST))
        .set_properties({**kafka_properties(settings), "commit.offsets.on.checkpoint": "true",
                         "isolation.level": "read_committed", "client.id.prefix": group_id})
    )
    # No Python API takes a record deserializer: hand the Java one to the Java builder.
    builder._j_builder.setDeserializer(java_instance(deserializer))
    return builder.build()


def kafka_sink(settings: Settings, transactional_id_prefix: str,
               guarantee: Any = DeliveryGuarantee.EXACTLY_ONCE) -> KafkaSink:
    """A sink of OUT_RECORD_TYPE rows (topic, key, value, headers), transactional by default."""
    builder = (
        KafkaSink.builder()
        .set_bootstrap_servers(settings.brokers)
        .set_delivery_guarantee(guarantee)
        .set_transactional_id_prefix(transactional_id_prefix)
        .set_property("transaction.timeout.ms", str(TRANSACTION_TIMEOUT_MS))
        .set_property("compression.type", "gzip")
        .set_property("max.request.size", str(MAX_RECORD_BYTES))
    )
    for key, value in kafka_properties(settings).items():
        builder.set_property(key, value)
    builder._j_builder.setRecordSerializer(java_instance(SERIALIZER_CLASS))
    return builder.build()


def java_instance(class_name: str) -> Any:
    """An instance of one of our Java classes, loaded from the jars `create_env` added."""
    return load_java_class(class_name).newInstance()


def dead_letter_row(record: dead_letters.SourceRecord, error: BaseException, prefix: str, source: str,
                    metrics: JobMetrics | None = None, retryable: bool = False) -> Row:
    """The DLQ record (OUT_RECORD_TYPE): the seed's DLQ event, keyed by the original key, with the
    original headers plus the retry count the DLQ processor reads back. Counted in `metrics` (the
    operator's `dlq_records` by error type) when given. Value, key and headers are capped (see
    contract/dead_letters.py) so the record always fits MAX_RECORD_BYTES: a dead letter the sink refused
    would fail the job on every restart. `retryable` (default: no, the record is bad data) tells the DLQ job
    a retry can help."""
    if metrics is not None:
        metrics.count("dlq_records", error_type=type(error).__name__)
    event = dead_letters.dead_letter(record, error, source, retryable=retryable)  # <= MAX_DEAD_LETTER_BYTES of JSON
    headers = dead_letters.dead_letter_headers(record, event.metadata["retry_count"])  # <= MAX_HEADERS_BYTES
    return Row(topic_for(EventType.DLQ, prefix), dead_letters.dead_letter_key(record), event.to_json(), headers)


class ParseRecords(ProcessFunction):
    """Kafka record -> `parse(record)`, counted in `events` by `event_type(value)`; anything that does not
    parse goes to the DLQ side output with its context, never raised."""

    def __init__(self, prefix: str, source: str, parse: Callable[[dead_letters.SourceRecord], Any],
                 event_type: Callable[[Any], str]):
        self.prefix = prefix
        self.source = source
        self.parse = parse
        self.event_type = event_type

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = JobMetrics(runtime_context.get_metrics_group())

    def process_element(self, row: Any, ctx: ProcessFunction.Context):  # noqa: ANN201 - a generator
        record = dead_letters.SourceRecord.from_row(row)
        try:
            value = self.parse(record)
        except Exception as exc:  # bad input of any kind is routed, with its context, never raised
            yield DLQ_TAG, dead_letter_row(record, exc, self.prefix, self.source, self.metrics)
            return
        self.metrics.count("events", event_type=self.event_type(value))
        yield value


def side_output(stream: DataStream, tag: OutputTag) -> DataStream:
    """The side output `tag` of a Python operator, straight from the JVM.

    PyFlink's `get_side_output` appends an identity Python map (`ds.map(lambda i: i)`), which is one more
    Python worker per subtask and one more JVM <-> Python crossing per record. A tag with a typed (not
    pickled) row type, as DLQ_TAG is, is already encoded for the JVM and can go to a Java sink as it is.
    """
    return DataStream(stream._j_data_stream.getSideOutput(tag.get_java_output_tag()))


def keyed_by_first_field(stream: DataStream, value_type: Any) -> KeyedStream:
    """A stream of Row(key: STRING, value) keyed by its first field, as `key_by` would key it, without the
    Python key selector `key_by` inserts (a Python worker per subtask and a JVM <-> Python crossing per
    record). The keyed Python operator that follows sees `value` and gets the key from its context."""
    key_type = Types.ROW([Types.STRING()]).get_java_type_info()
    j_keyed = stream._j_data_stream.keyBy(get_gateway().jvm.KeyByKeySelector(), key_type)
    return KeyedStream(j_keyed, value_type, stream)


def job_parser(description: str | None, default_group: str) -> argparse.ArgumentParser:
    """The flags every job takes after `flink run -py jobs/<name>.py`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--group-id", default=default_group)
    parser.add_argument("--topic-prefix", help="namespace of the topics (default: $ARGUS_TOPIC_PREFIX)")
    parser.add_argument("--graph", help="FalkorDB graph name (default: $FALKORDB_GRAPH)")
    parser.add_argument("--parallelism", type=int, default=2)
    return parser


def job_settings(args: argparse.Namespace, job: str) -> Settings:
    """The job's settings, logged in to Kafka as the job's own principal (bus/principals.py)."""
    overrides = {k: v for k, v in {"topic_prefix": args.topic_prefix, "falkordb_graph": args.graph}.items() if v}
    return Settings.load().as_principal(job_principal(job).name).model_copy(update=overrides)


def state_ttl(ttl: Time) -> StateTtlConfig:
    """The TTL every job's keyed state uses: expires `ttl` after its last write.

    Not NeverReturnExpired: in PyFlink 2.2.1 that visibility turns off the Python state caches of the whole
    operator (state_impl.enable_time_to_live), so every state write becomes a blocking round trip to the JVM
    (measured in the failure job: ~2 ms an event). An expired value read before cleanup is harmless.
    """
    return (StateTtlConfig.new_builder(ttl)
            .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
            .set_state_visibility(StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)
            .build())
