"""Self-healing: test.failed -> decision (fix cache or one healing.requested) -> healer -> healing.completed.

    argus-streams job submit healing        (flink run -py jobs/healing.py on the session cluster)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pyflink.common import Row, Time, Types, WatermarkStrategy
from pyflink.datastream import AsyncDataStream, AsyncFunction, DataStream, OutputTag
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.functions import KeyedProcessFunction, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from argus_streams.contract import dead_letters
from argus_streams.contract.events import ArgusEvent, EventType, topic_for
from argus_streams.errors import EventValidationError
from argus_streams.flink.counters import JobMetrics
from argus_streams.flink.kit import (
    DLQ_TAG,
    OUT_RECORD_TYPE,
    RECORD_TYPE,
    create_env,
    dead_letter_row,
    job_parser,
    job_settings,
    kafka_sink,
    kafka_source,
    state_ttl,
)
from argus_streams.flink.spec import HEALING as SPEC
from argus_streams.healing import decisions, records
from argus_streams.healing.healer import answer, completed_event
from argus_streams.healing.llm import LLMSettings
from argus_streams.healing.store import FixStore
from argus_streams.settings import Settings

TOPICS = (EventType.TEST_FAILED, EventType.TEST_EXECUTED, EventType.HEALING_REQUESTED, EventType.HEALING_COMPLETED)
# PyFlink's default on an async timeout raises: the task fails and replays the same record after the
# restart, so a store that hangs (or a record that makes one hang) would crash-loop the job. Each async
# operator below answers a timed-out record instead (its `timeout`, called on a timer thread).
IO_TIMEOUT = Time.minutes(2)
HEAL_TIMEOUT = Time.minutes(2)
CAPACITY = 500
# A (tenant, test) nobody failed or ran for this long leaves the decision state: its in-flight marks expired
# after minutes and the fix it last served left the cache after decisions.FIX_TTL_S (7 days).
STATE_TTL = Time.days(8)

REQUESTS_TAG = OutputTag("healing-requests", Types.PICKLED_BYTE_ARRAY())
ACTIONS_TAG = OutputTag("fix-store-actions", Types.PICKLED_BYTE_ARRAY())


@dataclass(frozen=True)
class Routed:
    """What Route hands on to the decision, which is keyed by (tenant_id, test_id): a healable failure, a
    healer's answer or a test run; the cache lookup fills `cached` for a failure."""

    tenant_id: str
    test_id: str
    failure: decisions.Failure | None = None  # test.failed, healable
    completed: ArgusEvent | None = None  # healing.completed
    run: tuple[str, str] | None = None  # test.executed: (status, event_id)
    cached: dict[str, Any] | None = None  # the fix cache's entry for the failure, if any

    @property
    def key(self) -> str:
        return f"{self.tenant_id}\x1f{self.test_id}"

    @classmethod
    def of(cls, item: Routed | tuple) -> Routed:
        """Also what a checkpoint taken before this class holds in the cache lookup's queue: the tuple
        (tenant_id, test_id, kind, body[, cached]) with kind "failed", "completed" or "executed"."""
        if isinstance(item, Routed):
            return item
        tenant_id, test_id, kind, body, *cached = item
        fields = {"failed": "failure", "completed": "completed", "executed": "run"}
        return cls(tenant_id, test_id, **{fields[kind]: body}, cached=cached[0] if cached else None)


def event_row(event: ArgusEvent, prefix: str) -> Row:
    """A derived event as the gateway would publish it: its topic, partition key and headers."""
    headers = {"correlation_id": event.correlation_id, "tenant_id": event.tenant_id, "source": event.source}
    return Row(event.topic(prefix), event.partition_key().decode(), event.to_json(), headers)


class Route(ProcessFunction):
    """Parse and validate; healable failures go on, requests go to the healer, the rest is counted or DLQ'd."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = JobMetrics(runtime_context.get_metrics_group())

    def process_element(self, row: Any, ctx: ProcessFunction.Context):  # noqa: ANN201 - a generator
        record = dead_letters.SourceRecord.from_row(row)
        try:  # every field the operators after this one read is checked here (healing/records.py)
            event = records.read_event(record.value)
        except EventValidationError as exc:  # bad data is routed with its context; a bug fails loudly
            yield DLQ_TAG, dead_letter_row(record, exc, self.prefix, SPEC.source, self.metrics)
            return
        self.metrics.count("events", event_type=event.event_type.value)
        if event.event_type is EventType.TEST_FAILED:
            verdict = decisions.examine_failure(event)
            if isinstance(verdict, str):  # assertion, 5xx, network...: counted, never sent for healing
                self.metrics.count("not_healable", failure_class=verdict)
                return
            yield Routed(verdict.event.tenant_id, verdict.event.payload["test_id"], failure=verdict)
        elif event.event_type is EventType.HEALING_REQUESTED:
            yield REQUESTS_TAG, event
        elif event.event_type is EventType.HEALING_COMPLETED:
            yield Routed(event.tenant_id, event.payload["test_id"], completed=event)
        else:
            yield Routed(event.tenant_id, event.payload["test_id"], run=(event.payload["status"], event.event_id))


class _FixStoreFunction(AsyncFunction):
    """An async function with a FixStore, opened at first use on the operator's event loop."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._store: FixStore | None = None

    @property
    def store(self) -> FixStore:
        if self._store is None:
            self._store = FixStore(self.settings)
        return self._store


class CacheLookup(_FixStoreFunction):
    """Attach the cached fix (or None) to each healable failure; other items pass through."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = JobMetrics(runtime_context.get_metrics_group())

    async def async_invoke(self, item: Routed | tuple) -> list:
        routed = Routed.of(item)
        if routed.failure is None:
            return [routed]
        cached = await self.store.lookup(routed.failure.key)
        self.metrics.count("fix_cache_lookups", result="miss" if cached is None else "hit")
        return [replace(routed, cached=cached)]

    def timeout(self, item: Routed | tuple) -> list:
        """A cache that has not answered within IO_TIMEOUT is a miss: the failure is decided without it."""
        self.metrics.count("fix_cache_lookups", result="timeout")
        return [Routed.of(item)]


def decision_state_descriptor() -> ValueStateDescriptor:
    """One TestHealingState per (tenant, test): at most decisions.MAX_IN_FLIGHT marks and one fix, for STATE_TTL.

    Named "healing-v2": the state had no TTL before, and Flink refuses to restore a state whose TTL changed.
    """
    descriptor = ValueStateDescriptor("healing-v2", Types.PICKLED_BYTE_ARRAY())
    descriptor.enable_time_to_live(state_ttl(STATE_TTL))
    return descriptor


class Decide(KeyedProcessFunction):
    """Keyed by tenant + test_id (the healing events' partition key): the decision and its state."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(decision_state_descriptor())
        self.metrics = JobMetrics(runtime_context.get_metrics_group())

    def process_element(self, item: Routed, ctx: KeyedProcessFunction.Context):  # noqa: ANN201
        state = self.state.value() or decisions.TestHealingState()
        if item.failure is not None:
            now = ctx.timer_service().current_processing_time()
            event = decisions.on_failure(state, item.failure, item.cached, now)
            if event is not None:
                if event.event_type is EventType.HEALING_COMPLETED:
                    self.metrics.count("healing_outcomes", outcome=event.payload["status"], source="cache")
                yield event_row(event, self.prefix)
                if event.event_type is EventType.HEALING_REQUESTED:
                    ctx.timer_service().register_processing_time_timer(now + decisions.IN_FLIGHT_TIMEOUT_MS)
        elif item.completed is not None:
            for action in decisions.on_completed(state, item.completed):
                yield ACTIONS_TAG, action
        elif item.run is not None:
            for action in decisions.on_executed(state, item.tenant_id, *item.run):
                yield ACTIONS_TAG, action
        self._keep(state)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):  # noqa: ANN201
        state = self.state.value()
        if state is not None:
            state.in_flight = {sig: due for sig, due in state.in_flight.items() if due > timestamp}
            self._keep(state)
        return iter(())

    def _keep(self, state: decisions.TestHealingState) -> None:
        """Only a test with a request in flight or a fix served has state: the runs of the many tests that
        never needed healing leave none (they kept an empty entry each for STATE_TTL)."""
        if state.in_flight or state.fix is not None:
            self.state.update(state)
        else:
            self.state.clear()


class ApplyActions(_FixStoreFunction):
    """Cache writes (7-day TTL, outcome counts, eviction) and FIXED_BY in the graph."""

    async def async_invoke(self, action: dict) -> list:
        await self.store.apply(action)
        return []  # nothing to publish; the stream joins the events sink only to be part of the job


class Heal(_FixStoreFunction):
    """healing.requested -> healing.completed (history, locator, optional LLM).

    The LLM strategy's settings come with the job (read from ARGUS_LLM_* where it was submitted), else from
    the worker's own environment (a pod template's env); without either the strategy is off.
    """

    def __init__(self, settings: Settings, llm: LLMSettings | None = None):
        super().__init__(settings)
        self.llm = llm

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = JobMetrics(runtime_context.get_metrics_group())
        if self.llm is None:
            self.llm = LLMSettings.from_env()

    async def async_invoke(self, request: ArgusEvent) -> list:
        # The request was checked by Route; the locator's CPU deadline bounds its work (a timed-out
        # record is an `unhealable` answer saying so), the LLM call has its own timeout.
        completed = await answer(request, self.store, self.llm)
        self.metrics.count("healing_outcomes", outcome=completed.payload["status"], source="healer")
        return [event_row(completed, self.settings.topic_prefix)]

    def timeout(self, request: ArgusEvent) -> list:
        """Not answered within HEAL_TIMEOUT (the locator's CPU deadline is far shorter, so a store or the LLM
        hung): `unhealable`, saying so. The call may still finish; its answer is then dropped."""
        self.metrics.count("healing_outcomes", outcome="unhealable", source="timeout")
        reason = f"the healer did not answer within {HEAL_TIMEOUT.to_milliseconds() // 1000} s"
        return [event_row(completed_event(request, None, [reason]), self.settings.topic_prefix)]


def build_pipeline(env: Any, settings: Settings, group_id: str = SPEC.default_group, healer: bool = True,
                   llm: LLMSettings | None = None) -> None:
    """The decision, and (unless `healer` is False: the healer then runs elsewhere) the healer."""
    prefix = settings.topic_prefix
    records: DataStream = env.from_source(
        kafka_source(settings, [topic_for(t, prefix) for t in TOPICS], group_id), WatermarkStrategy.no_watermarks(),
        "Kafka: test.failed/executed + healing.requested/completed", type_info=RECORD_TYPE,
    ).uid(SPEC.uid("kafka-source"))
    # Async operators run in tasks of their own (disable_chaining): chained behind another Python operator,
    # cancelling the job made PyFlink 2.2.1 release the shared Python worker twice and kill the TaskManager.
    routed = records.process(Route(prefix), output_type=Types.PICKLED_BYTE_ARRAY()) \
        .name("Route: classify and validate").uid(SPEC.uid("route"))
    looked_up = AsyncDataStream.ordered_wait(
        routed, CacheLookup(settings), IO_TIMEOUT, CAPACITY, Types.PICKLED_BYTE_ARRAY(),
    ).name("Fix cache lookup (async)").uid(SPEC.uid("cache-lookup")).disable_chaining()
    decided = looked_up.key_by(lambda item: item.key, key_type=Types.STRING()) \
        .process(Decide(prefix), output_type=OUT_RECORD_TYPE) \
        .name("Healing decision (tenant, test)").uid(SPEC.uid("decision"))
    applied = AsyncDataStream.unordered_wait(
        decided.get_side_output(ACTIONS_TAG), ApplyActions(settings), IO_TIMEOUT, CAPACITY, OUT_RECORD_TYPE,
    ).name("Fix cache + graph writes (async)").uid(SPEC.uid("fix-store")).disable_chaining()
    outputs = [applied]
    if healer:
        outputs.append(AsyncDataStream.unordered_wait(
            routed.get_side_output(REQUESTS_TAG), Heal(settings, llm), HEAL_TIMEOUT, CAPACITY, OUT_RECORD_TYPE,
        ).name("Healer: history, locator, LLM (async)").uid(SPEC.uid("healer")).disable_chaining())
    # Healing events: at-least-once with deterministic event ids (consumers dedupe by event_id); waiting
    # for a checkpoint per hop would add two checkpoint intervals to every heal.
    events_sink = kafka_sink(settings, f"{group_id}-events", DeliveryGuarantee.AT_LEAST_ONCE)
    decided.union(*outputs).sink_to(events_sink) \
        .name("Kafka: healing.requested/completed").uid(SPEC.uid("events-sink"))
    routed.get_side_output(DLQ_TAG).sink_to(kafka_sink(settings, f"{group_id}-dlq")) \
        .name("Kafka: argus.dlq").uid(SPEC.uid("dlq-sink"))


def main(argv: list[str] | None = None) -> None:
    parser = job_parser(__doc__, SPEC.default_group)
    parser.add_argument("--without-healer", action="store_true", help="decisions only; the healer runs elsewhere")
    args = parser.parse_args(argv)
    # Healing is latency-bound: short bundles (each Python operator may hold a record for one bundle).
    env = create_env(args.parallelism, extra={"python.fn-execution.bundle.time": "50"})
    # ARGUS_LLM_* of the submitting environment (never job arguments, which the web UI shows).
    settings = job_settings(args, SPEC.name)
    build_pipeline(env, settings, group_id=args.group_id, healer=not args.without_healer, llm=LLMSettings.from_env())
    env.execute(SPEC.flink_name(args.group_id, settings.topic_prefix))


if __name__ == "__main__":
    main()
