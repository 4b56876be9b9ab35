package io.argus.streams.flink;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.BasicArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * The failure job's aggregation in the JVM: keyed by tenant, it counts each parsed run once (test history
 * and flakiness, signature and edge tallies: {@link FailureEntries}, in keyed state) and, at most FLUSH_MS
 * after a change, emits one element per changed tenant, the JSON array of its changed entries as graph upsert
 * rows.
 *
 * <p>What changed since the last flush (each entry's newest value) waits on the heap, not in keyed state: it
 * is emitted on the flush timer and before every checkpoint barrier ({@link #prepareSnapshotPreBarrier}), so a
 * checkpoint never holds an unwritten change (the graph sink downstream holds the elements in flight in its
 * own state). Keeping it in RocksDB cost a put, a delete and a scan over the deletes per entry, and those
 * scans grew with the distinct keys: at 500,000 signatures the job ran at a quarter of its pace at 5,000.
 * The rows carry absolute values (counts, not increments), so writing one twice changes nothing.
 */
public final class FailureAggregator extends AbstractStreamOperator<String>
        implements OneInputStreamOperator<Row, String>, BoundedOneInput {
    private static final long serialVersionUID = 2L;
    /** The coalescing window: a key changed many times within it is written once. */
    public static final long FLUSH_MS = 200;
    /** Entries nobody updated for this long leave the state (the graph keeps what they said). */
    public static final Duration STATE_TTL = Duration.ofDays(30);
    public static final String UID = "failures-aggregate-jvm-v1";
    /** Where the operator's first version kept its unwritten changes: drained once on restore, then empty. */
    private static final MapStateDescriptor<String, String[]> LEGACY_PENDING = new MapStateDescriptor<>(
            "failure-pending", Types.STRING, BasicArrayTypeInfo.STRING_ARRAY_TYPE_INFO);
    /** And when it was due: set and cleared with the pending changes. */
    private static final ValueStateDescriptor<Long> LEGACY_DUE = new ValueStateDescriptor<>(
            "failure-flush-due", Types.LONG);

    private transient MapState<String, byte[]> entries;
    private transient Map<String, Changes> pending;
    private transient boolean flushScheduled;
    private transient Counter duplicates;

    /** Key by the run's tenant (field 0), then aggregate: the operator the Python job wires in. */
    public static SingleOutputStreamOperator<String> aggregate(DataStream<Row> runs) {
        return runs.keyBy(new Tenant(), Types.STRING)
                .transform("Aggregate per tenant (JVM): history, flakiness, signatures", Types.STRING,
                        new FailureAggregator())
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

    /** One tenant's entries changed since the last flush: their graph identities and newest values. */
    private static final class Changes {
        final Map<String, String[]> ids = new LinkedHashMap<>();
        final Map<String, byte[]> values = new HashMap<>();

        /** Reads the values this flush carries (every changed entry was written, so each is here). */
        final FailureEntries.Store view = new FailureEntries.Store() {
            @Override
            public byte[] get(String key) {
                return values.get(key);
            }

            @Override
            public void put(String key, byte[] value) {
                throw new UnsupportedOperationException();
            }

            @Override
            public void remove(String key) {
                throw new UnsupportedOperationException();
            }
        };
    }

    @Override
    public void open() throws Exception {
        super.open();
        StateTtlConfig ttl = StateTtlConfig.newBuilder(STATE_TTL)
                .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .setStateVisibility(StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)
                .build();
        MapStateDescriptor<String, byte[]> entriesDescriptor = new MapStateDescriptor<>(
                "failure-entries", Types.STRING, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
        entriesDescriptor.enableTimeToLive(ttl);
        entries = getKeyedStateStore().getMapState(entriesDescriptor);
        pending = new LinkedHashMap<>();
        duplicates = getMetricGroup().addGroup("argus").counter("duplicates");
        drainLegacyPending();
    }

    /** Changes a checkpoint of the first version held unwritten become this version's pending changes. */
    private void drainLegacyPending() throws Exception {
        List<String> tenants = new ArrayList<>();
        getKeyedStateBackend().applyToAllKeys(VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE,
                LEGACY_PENDING, (tenant, state) -> {
                    if (!state.isEmpty()) {
                        tenants.add((String) tenant);
                    }
                });
        for (String tenant : tenants) {
            setCurrentKey(tenant);
            MapState<String, String[]> legacy = getPartitionedState(LEGACY_PENDING);
            Changes changes = pending.computeIfAbsent(tenant, t -> new Changes());
            for (Map.Entry<String, String[]> entry : legacy.entries()) {
                byte[] value = entries.get(entry.getKey());
                if (value != null) {  // expired since: nothing newer to write
                    changes.ids.put(entry.getKey(), entry.getValue());
                    changes.values.put(entry.getKey(), value);
                }
            }
            legacy.clear();
            getPartitionedState(LEGACY_DUE).clear();  // its timer stays in the old timer state, never fired
        }
        if (!pending.isEmpty()) {
            scheduleFlush();
        }
    }

    @Override
    public void processElement(StreamRecord<Row> element) throws Exception {
        String tenant = (String) getCurrentKey();
        Map<String, byte[]> written = new HashMap<>();
        Map<String, String[]> changed = FailureEntries.record(new FailureEntries.Store() {
            @Override
            public byte[] get(String key) throws Exception {
                return entries.get(key);
            }

            @Override
            public void put(String key, byte[] value) throws Exception {
                entries.put(key, value);
                written.put(key, value);
            }

            @Override
            public void remove(String key) throws Exception {
                entries.remove(key);
            }
        }, element.getValue());
        if (changed == null) {
            duplicates.inc();  // a producer retry or a republished record: counted once
            return;
        }
        Changes changes = pending.computeIfAbsent(tenant, t -> new Changes());
        for (Map.Entry<String, String[]> entry : changed.entrySet()) {
            changes.ids.put(entry.getKey(), entry.getValue());
            changes.values.put(entry.getKey(), written.get(entry.getKey()));
        }
        scheduleFlush();
    }

    private void scheduleFlush() {
        if (!flushScheduled) {
            flushScheduled = true;
            long at = getProcessingTimeService().getCurrentProcessingTime() + FLUSH_MS;
            getProcessingTimeService().registerTimer(at, time -> {
                flushScheduled = false;
                flush();
            });
        }
    }

    /** One element per changed tenant: its changed entries' rows. */
    private void flush() throws Exception {
        for (Map.Entry<String, Changes> tenant : pending.entrySet()) {
            Changes changes = tenant.getValue();
            String rows = FailureEntries.rowsJson(tenant.getKey(), changes.view, changes.ids.entrySet().iterator());
            if (rows.length() > 2) {
                output.collect(new StreamRecord<>(rows));
            }
        }
        pending.clear();
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        flush();  // before the barrier: the checkpoint holds no change the graph may not have
    }

    @Override
    public void endInput() throws Exception {
        flush();
    }
}
