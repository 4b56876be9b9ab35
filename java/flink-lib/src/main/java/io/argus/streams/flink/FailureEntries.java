package io.argus.streams.flink;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.flink.types.Row;

/**
 * One tenant's failure state as flat entries, the JVM twin of Python's {@code failures.TenantFailures}:
 * {@code t} histories per (suite, test), {@code i} the event ids each (suite, test, build) counted, {@code f}
 * tallies per signature, {@code e} tallies per (signature, test). Each event reads and writes at most four
 * small entries, whatever the size of a suite or a signature. The values are encoded here (a version byte, then the fields), so the state's
 * format is ours and not a serializer's.
 *
 * <p>Every statistic is the one Python computes, field for field; {@code tests/unit/test_jvm_failures.py}
 * feeds the same runs to both and compares the rows.
 */
public final class FailureEntries {
    /** The window of builds flakiness is computed over, and the ids a build remembers (failures.py). */
    public static final int FLAKINESS_WINDOW_BUILDS = 20;
    public static final int MAX_EVENTS_PER_BUILD = 1000;
    private static final byte FORMAT = 1;

    /** TestRun fields, in the order of Python's {@code failures.TEST_RUN_FIELDS}. */
    public static final int TENANT = 0;
    public static final int EVENT_ID = 1;
    public static final int SUITE = 2;
    public static final int TEST = 3;
    public static final int RUN = 4;
    public static final int BUILD = 5;
    public static final int FAILED = 6;
    public static final int AT = 7;
    public static final int SIGNATURE = 8;
    public static final int ERROR_TYPE = 9;
    public static final int MESSAGE = 10;

    /** Where the entries live: the job's MapState, or a plain map in the tests. */
    public interface Store {
        byte[] get(String key) throws Exception;

        void put(String key, byte[] value) throws Exception;

        void remove(String key) throws Exception;
    }

    private FailureEntries() {}

    /**
     * Count one run; returns the entries it changed (entry key -> its kind and ids, the graph row's
     * identity), or null when this event id was already counted.
     */
    public static Map<String, String[]> record(Store store, Row run) throws Exception {
        String suite = str(run, SUITE), test = str(run, TEST), at = str(run, AT), build = str(run, BUILD);
        String historyKey = "t\u001f" + suite + "\u001f" + test;
        History history = Encoded.decode(store.get(historyKey), new History());
        // The ids a build counted are an entry of their own (`i`, at most MAX_EVENTS_PER_BUILD of them): an event
        // re-encodes its build's ids, not those of every build in the window.
        boolean known = history.builds.containsKey(build);
        String buildIdsKey = idsKey(suite, test, build);
        Ids ids = known ? Encoded.decode(store.get(buildIdsKey), new Ids()) : new Ids();
        String eventId = str(run, EVENT_ID);
        boolean failed = Boolean.TRUE.equals(run.getField(FAILED));
        if (ids.seen.contains(eventId)) {
            return null;  // a producer retry or a republished record: counted once
        }
        if (ids.seen.size() < MAX_EVENTS_PER_BUILD) {
            ids.seen.add(eventId);
        }
        store.put(buildIdsKey, ids.encode());  // also when full: it lives as long as the history
        for (String evicted : history.record(build, failed)) {
            store.remove(idsKey(suite, test, evicted));
        }
        store.put(historyKey, history.encode());
        Map<String, String[]> changed = new LinkedHashMap<>();
        changed.put(historyKey, new String[] {"test", suite, test});
        String signature = str(run, SIGNATURE);
        if (failed && signature != null && !signature.isEmpty()) {
            String nodeKey = "f\u001f" + signature, edgeKey = "e\u001f" + signature + "\u001f" + test;
            Tally tally = Encoded.decode(store.get(nodeKey), new Tally());
            tally.record(at, eventId, str(run, ERROR_TYPE), str(run, MESSAGE));
            store.put(nodeKey, tally.encode());
            Edge edge = Encoded.decode(store.get(edgeKey), new Edge());
            edge.record(at, suite);
            store.put(edgeKey, edge.encode());
            changed.put(nodeKey, new String[] {"failure", signature});
            changed.put(edgeKey, new String[] {"edge", signature, test});
        }
        return changed;
    }

    /** The graph's upsert rows of the changed entries as a JSON array (entries gone from state are skipped). */
    public static String rowsJson(String tenant, Store store, Iterator<Map.Entry<String, String[]>> changed)
            throws Exception {
        StringBuilder json = new StringBuilder("[");
        while (changed.hasNext()) {
            Map.Entry<String, String[]> entry = changed.next();
            byte[] value = store.get(entry.getKey());
            if (value == null) {
                continue;  // expired from state since it changed: nothing newer to write
            }
            if (json.length() > 1) {
                json.append(',');
            }
            row(json, tenant, entry.getValue(), value);
        }
        return json.append(']').toString();
    }

    private static void row(StringBuilder json, String tenant, String[] ids, byte[] value) {
        json.append('{');
        switch (ids[0]) {
            case "test" -> {
                History history = Encoded.decode(value, new History());
                field(json, "kind", "test").append(',');
                field(json, "tenant_id", tenant).append(',');
                field(json, "suite_id", ids[1]).append(',');
                field(json, "test_id", ids[2]).append(",\"flakiness\":").append(history.flakiness());
                json.append(",\"seq\":").append(history.seq);
            }
            case "failure" -> {
                Tally tally = Encoded.decode(value, new Tally());
                field(json, "kind", "failure").append(',');
                field(json, "tenant_id", tenant).append(',');
                field(json, "signature", ids[1]).append(",\"count\":").append(tally.count).append(',');
                field(json, "first_seen", tally.firstSeen).append(',');
                field(json, "last_seen", tally.lastSeen).append(',');
                field(json, "error_type", tally.errorType).append(',');
                field(json, "sample_message", tally.sampleMessage);
            }
            default -> {
                Edge edge = Encoded.decode(value, new Edge());
                field(json, "kind", "edge").append(',');
                field(json, "tenant_id", tenant).append(',');
                field(json, "signature", ids[1]).append(',');
                field(json, "test_id", ids[2]).append(',');
                field(json, "suite_id", edge.suiteId).append(",\"edge_count\":").append(edge.count).append(',');
                field(json, "edge_last_seen", edge.lastSeen);
            }
        }
        json.append('}');
    }

    private static StringBuilder field(StringBuilder json, String name, String value) {
        json.append('"').append(name).append("\":\"");
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '"' -> json.append("\\\"");
                case '\\' -> json.append("\\\\");
                default -> {
                    if (c < 0x20 || Character.isSurrogate(c)) {
                        json.append(String.format("\\u%04x", (int) c));  // valid JSON whatever the pairing
                    } else {
                        json.append(c);
                    }
                }
            }
        }
        return json.append('"');
    }

    private static String idsKey(String suite, String test, String build) {
        return "i\u001f" + suite + "\u001f" + test + "\u001f" + build;
    }

    private static String str(Row run, int field) {
        Object value = run.getField(field);
        return value == null ? null : value.toString();
    }

    private static String orEmpty(String value) {
        return value == null ? "" : value;
    }

    /** An entry's value: a format byte, then its fields. */
    private abstract static class Encoded {
        abstract void write(DataOutputStream out) throws IOException;

        abstract void read(DataInputStream in) throws IOException;

        final byte[] encode() {
            try {
                ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
                DataOutputStream out = new DataOutputStream(bytes);
                out.writeByte(FORMAT);
                write(out);
                return bytes.toByteArray();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** `fresh` filled from `value`, or left empty when there is no value yet. */
        static <T extends Encoded> T decode(byte[] value, T fresh) {
            if (value == null) {
                return fresh;
            }
            try {
                DataInputStream in = new DataInputStream(new ByteArrayInputStream(value));
                byte format = in.readByte();
                if (format != FORMAT) {
                    throw new IOException("unknown failure entry format " + format);
                }
                fresh.read(in);
                return fresh;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** The event ids one (suite, test, build) counted. */
    static final class Ids extends Encoded {
        final Set<String> seen = new HashSet<>();

        @Override
        void write(DataOutputStream out) throws IOException {
            out.writeInt(seen.size());
            for (String id : seen) {
                out.writeUTF(id);
            }
        }

        @Override
        void read(DataInputStream in) throws IOException {
            for (int i = in.readInt(); i > 0; i--) {
                seen.add(in.readUTF());
            }
        }
    }

    /** Python's TestHistory without its ids (their own entries): per build (oldest first) whether it failed and
     * passed, and the events counted. */
    static final class History extends Encoded {
        final LinkedHashMap<String, Build> builds = new LinkedHashMap<>();
        long seq;

        static final class Build {
            boolean failed;
            boolean passed;
        }

        /** Count a new run of `build`; returns the builds it pushed out of the window (oldest first). */
        List<String> record(String build, boolean failed) {
            Build runs = builds.computeIfAbsent(build, b -> new Build());
            if (failed) {
                runs.failed = true;
            } else {
                runs.passed = true;
            }
            List<String> evicted = new ArrayList<>();
            while (builds.size() > FLAKINESS_WINDOW_BUILDS) {
                String oldest = builds.keySet().iterator().next();  // the oldest build seen goes first
                builds.remove(oldest);
                evicted.add(oldest);
            }
            seq++;
            return evicted;
        }

        /** round(flaky / builds, 4) as Python computes it (no ties at 4 digits with at most 20 builds). */
        double flakiness() {
            if (builds.isEmpty()) {
                return 0.0;
            }
            long flaky = builds.values().stream().filter(b -> b.failed && b.passed).count();
            long n = builds.size();
            return ((flaky * 20000 + n) / (2 * n)) / 10000.0;
        }

        @Override
        void write(DataOutputStream out) throws IOException {
            out.writeLong(seq);
            out.writeInt(builds.size());
            for (Map.Entry<String, Build> build : builds.entrySet()) {
                out.writeUTF(build.getKey());
                out.writeBoolean(build.getValue().failed);
                out.writeBoolean(build.getValue().passed);
            }
        }

        @Override
        void read(DataInputStream in) throws IOException {
            seq = in.readLong();
            for (int b = in.readInt(); b > 0; b--) {
                Build build = new Build();
                builds.put(in.readUTF(), build);
                build.failed = in.readBoolean();
                build.passed = in.readBoolean();
            }
        }
    }

    /** Python's FailureTally: the Failure node of one (tenant, signature). */
    static final class Tally extends Encoded {
        long count;
        String firstSeen = "";
        String lastSeen = "";
        String errorType = "";
        String sampleMessage = "";
        String sampleAt = "";
        String sampleEventId = "";

        void record(String at, String eventId, String runErrorType, String message) {
            count++;
            firstSeen = firstSeen.isEmpty() || at.compareTo(firstSeen) < 0 ? at : firstSeen;
            lastSeen = at.compareTo(lastSeen) > 0 ? at : lastSeen;
            errorType = orEmpty(runErrorType);
            // the earliest failure is the sample, whatever the arrival order: (at, event_id) as a tuple
            int byTime = at.compareTo(sampleAt);
            if (sampleMessage.isEmpty() || byTime < 0 || (byTime == 0 && eventId.compareTo(sampleEventId) < 0)) {
                sampleAt = at;
                sampleEventId = eventId;
                sampleMessage = orEmpty(message);
            }
        }

        @Override
        void write(DataOutputStream out) throws IOException {
            out.writeLong(count);
            for (String text : List.of(firstSeen, lastSeen, errorType, sampleMessage, sampleAt, sampleEventId)) {
                out.writeUTF(text);
            }
        }

        @Override
        void read(DataInputStream in) throws IOException {
            count = in.readLong();
            firstSeen = in.readUTF();
            lastSeen = in.readUTF();
            errorType = in.readUTF();
            sampleMessage = in.readUTF();
            sampleAt = in.readUTF();
            sampleEventId = in.readUTF();
        }
    }

    /** Python's EdgeTally: the HAD_FAILURE edge of one (tenant, signature, test). */
    static final class Edge extends Encoded {
        long count;
        String lastSeen = "";
        String suiteId = "";

        void record(String at, String suite) {
            count++;
            lastSeen = at.compareTo(lastSeen) > 0 ? at : lastSeen;
            suiteId = suiteId.isEmpty() ? orEmpty(suite) : suiteId;
        }

        @Override
        void write(DataOutputStream out) throws IOException {
            out.writeLong(count);
            out.writeUTF(lastSeen);
            out.writeUTF(suiteId);
        }

        @Override
        void read(DataInputStream in) throws IOException {
            count = in.readLong();
            lastSeen = in.readUTF();
            suiteId = in.readUTF();
        }
    }

    /** For the parity tests (through py4j): record each run in an in-memory store of its tenant, and return
     * after each run the rows of what it changed ("null" for a duplicate). */
    public static List<String> replay(List<Row> runs) throws Exception {
        return replay(runs, new java.util.HashMap<>());
    }

    /** For the bound tests: how many entries, and how many ids in them, each tenant holds after the runs. */
    public static Map<String, List<Integer>> sizesAfter(List<Row> runs) throws Exception {
        Map<String, Map<String, byte[]>> tenants = new java.util.HashMap<>();
        replay(runs, tenants);
        Map<String, List<Integer>> sizes = new java.util.HashMap<>();
        for (Map.Entry<String, Map<String, byte[]>> tenant : tenants.entrySet()) {
            int ids = 0;
            for (Map.Entry<String, byte[]> entry : tenant.getValue().entrySet()) {
                ids += entry.getKey().startsWith("i\u001f") ? Encoded.decode(entry.getValue(), new Ids()).seen.size() : 0;
            }
            sizes.put(tenant.getKey(), List.of(tenant.getValue().size(), ids));
        }
        return sizes;
    }

    private static List<String> replay(List<Row> runs, Map<String, Map<String, byte[]>> tenants) throws Exception {
        List<String> out = new ArrayList<>();
        for (Row run : runs) {
            Map<String, byte[]> entries = tenants.computeIfAbsent(str(run, TENANT), t -> new java.util.HashMap<>());
            Store store = new Store() {
                @Override
                public byte[] get(String key) {
                    return entries.get(key);
                }

                @Override
                public void put(String key, byte[] value) {
                    entries.put(key, value);
                }

                @Override
                public void remove(String key) {
                    entries.remove(key);
                }
            };
            Map<String, String[]> changed = record(store, run);
            out.add(changed == null ? "null" : rowsJson(str(run, TENANT), store, changed.entrySet().iterator()));
        }
        return out;
    }
}
