package io.argus.streams.flink;

import java.time.Duration;
import java.util.Map;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.BasicArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * The failure job's aggregation in the JVM: keyed by tenant, it counts each parsed run once (test history
 * and flakiness, signature and edge tallies: {@link FailureEntries}) and, FLUSH_MS after a tenant's first
 * change, emits one element, the JSON array of that tenant's changed entries as graph upsert rows.
 *
 * <p>The changed entries wait in keyed state ({@code pending}, with the flush timer, both in every
 * checkpoint), so a restore re-emits what a checkpoint holds but the graph may not: the rows carry
 * absolute values (counts, not increments), so writing one twice changes nothing.
 */
public final class FailureAggregator extends KeyedProcessFunction<String, Row, String> {
    private static final long serialVersionUID = 1L;
    /** The coalescing window: a key changed many times within it is written once. */
    public static final long FLUSH_MS = 200;
    /** Entries nobody updated for this long leave the state (the graph keeps what they said). */
    public static final Duration STATE_TTL = Duration.ofDays(30);
    public static final String UID = "failures-aggregate-jvm-v1";

    private transient MapState<String, byte[]> entries;
    private transient MapState<String, String[]> pending;
    private transient ValueState<Long> due;
    private transient FailureEntries.Store store;
    private transient Counter duplicates;

    /** Key by the run's tenant (field 0), then aggregate: the operator the Python job wires in. */
    public static SingleOutputStreamOperator<String> aggregate(DataStream<Row> runs) {
        return runs.keyBy(new Tenant(), Types.STRING)
                .process(new FailureAggregator(), Types.STRING)
                .name("Aggregate per tenant (JVM): history, flakiness, signatures")
                .uid(UID);
    }

    /** The tenant of a parsed run. */
    public static final class Tenant implements KeySelector<Row, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public String getKey(Row run) {
            return (String) run.getField(FailureEntries.TENANT);
        }
    }

    @Override
    public void open(OpenContext openContext) {
        StateTtlConfig ttl = StateTtlConfig.newBuilder(STATE_TTL)
                .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .setStateVisibility(StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)
                .build();
        MapStateDescriptor<String, byte[]> entriesDescriptor = new MapStateDescriptor<>(
                "failure-entries", Types.STRING, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
        entriesDescriptor.enableTimeToLive(ttl);
        entries = getRuntimeContext().getMapState(entriesDescriptor);
        pending = getRuntimeContext().getMapState(new MapStateDescriptor<>(
                "failure-pending", Types.STRING, BasicArrayTypeInfo.STRING_ARRAY_TYPE_INFO));
        due = getRuntimeContext().getState(new ValueStateDescriptor<>("failure-flush-due", Types.LONG));
        store = new FailureEntries.Store() {
            @Override
            public byte[] get(String key) throws Exception {
                return entries.get(key);
            }

            @Override
            public void put(String key, byte[] value) throws Exception {
                entries.put(key, value);
            }

            @Override
            public void remove(String key) throws Exception {
                entries.remove(key);
            }
        };
        duplicates = getRuntimeContext().getMetricGroup().addGroup("argus").counter("duplicates");
    }

    @Override
    public void processElement(Row run, Context ctx, Collector<String> out) throws Exception {
        Map<String, String[]> changed = FailureEntries.record(store, run);
        if (changed == null) {
            duplicates.inc();  // a producer retry or a republished record: counted once
            return;
        }
        pending.putAll(changed);
        if (due.value() == null) {
            long at = ctx.timerService().currentProcessingTime() + FLUSH_MS;
            ctx.timerService().registerProcessingTimeTimer(at);
            due.update(at);
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<String> out) throws Exception {
        due.clear();
        if (pending.isEmpty()) {
            return;
        }
        String rows = FailureEntries.rowsJson(ctx.getCurrentKey(), store, pending.iterator());
        pending.clear();
        if (rows.length() > 2) {
            out.collect(rows);
        }
    }
}
