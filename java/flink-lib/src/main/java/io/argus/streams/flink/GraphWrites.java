package io.argus.streams.flink;

import java.io.IOException;
import java.io.Serializable;
import java.math.BigDecimal;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.type.TypeReference;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.neo4j.driver.AuthTokens;
import org.neo4j.driver.Config;
import org.neo4j.driver.Driver;
import org.neo4j.driver.GraphDatabase;
import org.neo4j.driver.Session;
import org.neo4j.driver.exceptions.ClientException;
import org.neo4j.driver.exceptions.SecurityException;
import org.neo4j.driver.exceptions.ServiceUnavailableException;
import org.neo4j.driver.exceptions.SessionExpiredException;
import org.neo4j.driver.exceptions.TransientException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.commands.ProtocolCommand;
import redis.clients.jedis.exceptions.JedisAccessControlException;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.util.SafeEncoder;

/**
 * The failure graph's writes from the JVM, with the project's error policy ({@code argus_streams/stores/policy.py}):
 * the statements and indexes come from Python's {@code argus_streams/failures/graph.py} (one source of the Cypher), passed in
 * {@link Settings}; this class only plans a batch (newest row per key) and runs it.
 */
public final class GraphWrites {
    private static final Logger LOG = LoggerFactory.getLogger(GraphWrites.class);

    /** Transient errors are retried with backoff from INITIAL to MAX delay, for up to DEADLINE in all. */
    static final long INITIAL_DELAY_MS = 200;
    static final long MAX_DELAY_MS = 10_000;
    static final long DEADLINE_MS = 600_000;

    private GraphWrites() {}

    /** Where and what to write: the stores' addresses and credentials, the statements and the indexes. */
    public static final class Settings implements Serializable {
        private static final long serialVersionUID = 1L;
        final String falkordbHost;
        final int falkordbPort;
        final String falkordbUser;
        final String falkordbPassword;
        final String falkordbGraph;
        final String neo4jUri;
        final String neo4jUser;
        final String neo4jPassword;
        /** UPSERT_FAILURES, UPSERT_EDGES, UPSERT_TESTS of graph.py, in that (dependency) order. */
        final String[] statements;
        /** Each index as "Label:prop1,prop2" (graph.INDEXES). */
        final String[] indexes;

        private Settings(String falkordbUrl, String falkordbGraph, String neo4jUri, String neo4jUser,
                         String neo4jPassword, String[] statements, String[] indexes) throws URISyntaxException {
            URI url = new URI(falkordbUrl);
            String user = null, password = null;
            if (url.getRawUserInfo() != null) {
                String[] parts = url.getRawUserInfo().split(":", 2);
                user = parts[0].isEmpty() ? null : decode(parts[0]);
                password = parts.length > 1 ? decode(parts[1]) : null;
            }
            this.falkordbHost = url.getHost() == null ? "127.0.0.1" : url.getHost();
            this.falkordbPort = url.getPort() < 0 ? 6379 : url.getPort();
            this.falkordbUser = user;
            this.falkordbPassword = password;
            this.falkordbGraph = falkordbGraph;
            this.neo4jUri = neo4jUri;
            this.neo4jUser = neo4jUser;
            this.neo4jPassword = neo4jPassword;
            this.statements = statements;
            this.indexes = indexes;
        }

        public static Settings of(String falkordbUrl, String falkordbGraph, String neo4jUri, String neo4jUser,
                                  String neo4jPassword, String[] statements, String[] indexes)
                throws URISyntaxException {
            if (statements.length != 3) {
                throw new IllegalArgumentException("three statements: failures, edges, tests");
            }
            return new Settings(falkordbUrl, falkordbGraph, neo4jUri, neo4jUser, neo4jPassword, statements, indexes);
        }

        private static String decode(String text) {
            return URLDecoder.decode(text, StandardCharsets.UTF_8);
        }

        @Override
        public String toString() {  // never the passwords
            return "GraphWrites.Settings(falkordb=" + falkordbHost + ":" + falkordbPort + "/" + falkordbGraph
                    + ", neo4j=" + neo4jUri + ")";
        }
    }

    /** A batch as three statements' rows, each with at most one row per key (graph.WritePlan). */
    public static final class Plan {
        static final String[] NODE_FIELDS = {
            "tenant_id", "signature", "count", "first_seen", "last_seen", "error_type", "sample_message"};
        static final String[] EDGE_FIELDS = {
            "tenant_id", "signature", "test_id", "suite_id", "edge_count", "edge_last_seen"};
        static final String[] TEST_FIELDS = {"tenant_id", "test_id", "suite_id", "flakiness", "seq"};

        final List<Map<String, Object>> failures;
        final List<Map<String, Object>> edges;
        final List<Map<String, Object>> tests;

        private Plan(List<Map<String, Object>> failures, List<Map<String, Object>> edges,
                     List<Map<String, Object>> tests) {
            this.failures = failures;
            this.edges = edges;
            this.tests = tests;
        }

        /**
         * The graph stores apply a statement's SETs after every MERGE of the UNWIND: two rows for one key in one
         * statement would race, so only the newest row per key (highest count/seq; the later on a tie) is kept.
         */
        public static Plan of(List<Map<String, Object>> rows) {
            Map<List<Object>, Map<String, Object>> failures = new LinkedHashMap<>();
            Map<List<Object>, Map<String, Object>> edges = new LinkedHashMap<>();
            Map<List<Object>, Map<String, Object>> tests = new LinkedHashMap<>();
            for (Map<String, Object> row : rows) {
                Object kind = row.get("kind");
                if ("failure".equals(kind)) {
                    latest(failures, row, "count", "tenant_id", "signature");
                }
                if ("edge".equals(kind) || ("failure".equals(kind) && row.containsKey("edge_count"))) {
                    latest(edges, row, "edge_count", "tenant_id", "signature", "test_id");
                }
                if ("test".equals(kind)) {
                    latest(tests, row, "seq", "tenant_id", "test_id");
                }
            }
            return new Plan(project(failures, NODE_FIELDS), project(edges, EDGE_FIELDS), project(tests, TEST_FIELDS));
        }

        private static void latest(Map<List<Object>, Map<String, Object>> best, Map<String, Object> row,
                                   String version, String... key) {
            List<Object> k = new ArrayList<>(key.length);
            for (String name : key) {
                k.add(row.get(name));
            }
            Map<String, Object> current = best.get(k);
            if (current == null || number(current.get(version)) <= number(row.get(version))) {
                best.put(k, row);
            }
        }

        private static double number(Object value) {
            return ((Number) value).doubleValue();
        }

        private static List<Map<String, Object>> project(Map<List<Object>, Map<String, Object>> rows, String[] fields) {
            List<Map<String, Object>> out = new ArrayList<>(rows.size());
            for (Map<String, Object> row : rows.values()) {
                Map<String, Object> kept = new LinkedHashMap<>();
                for (String field : fields) {
                    kept.put(field, row.get(field));
                }
                out.add(kept);
            }
            return out;
        }

        /** Rows the statements carry in all. */
        public int size() {
            return failures.size() + edges.size() + tests.size();
        }

        /** (statement index, rows) in dependency order (edges MATCH their Failure); empty ones left out. */
        List<Map.Entry<Integer, List<Map<String, Object>>>> statements() {
            List<Map.Entry<Integer, List<Map<String, Object>>>> out = new ArrayList<>(3);
            if (!failures.isEmpty()) {
                out.add(Map.entry(0, failures));
            }
            if (!edges.isEmpty()) {
                out.add(Map.entry(1, edges));
            }
            if (!tests.isEmpty()) {
                out.add(Map.entry(2, tests));
            }
            return out;
        }
    }

    /** The JSON the sink reads and writes (thread-safe once configured). */
    static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<List<Map<String, Object>>> ROWS = new TypeReference<>() {};

    /** A JSON array of graph upsert rows, as FailureAggregator emits them. */
    public static List<Map<String, Object>> rows(String rowsJson) throws IOException {
        return JSON.readValue(rowsJson, ROWS);
    }

    /** The plan of a JSON array of rows (as FailureGraphSink reads them): for the tests, through Py4J. */
    public static Plan planOf(String rowsJson) throws IOException {
        return Plan.of(rows(rowsJson));
    }

    /** A plan as JSON {failures, edges, tests}: for the tests. */
    public static String planJson(String rowsJson) throws IOException {
        Plan plan = planOf(rowsJson);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("failures", plan.failures);
        out.put("edges", plan.edges);
        out.put("tests", plan.tests);
        return JSON.writeValueAsString(out);
    }

    /** A JSON value in FalkorDB's parameter syntax: for the tests. */
    public static String falkordbLiteral(String json) throws IOException {
        StringBuilder out = new StringBuilder();
        FalkorStore.literal(out, JSON.readValue(json, Object.class));
        return out.toString();
    }

    /** A store that writes a plan, or throws what its client raised (classified by {@link #classify}). */
    public interface Store extends AutoCloseable {
        String name();

        void write(Plan plan) throws Exception;

        @Override
        void close();
    }

    /** How an error is handled: retried with backoff, dead-lettered row by row, or failing the task. */
    public enum Kind { TRANSIENT, DATA, FATAL }

    /** The store refused this data (a query error): its rows go to the DLQ. */
    public static final class DataError extends Exception {
        private static final long serialVersionUID = 1L;

        DataError(Exception cause) {
            super(cause.getMessage(), cause);
        }
    }

    /**
     * graph.is_transient / is_data_error: a store that is down or slow is transient; refused credentials are
     * configuration (never data: they must stop the job, not fill the DLQ); a query error is data; anything else
     * (a bug) fails the task loudly.
     */
    public static Kind classify(Throwable error) {
        if (error instanceof JedisAccessControlException || error instanceof SecurityException) {
            return Kind.FATAL;
        }
        if (error instanceof JedisConnectionException || error instanceof ServiceUnavailableException
                || error instanceof SessionExpiredException || error instanceof TransientException
                || error instanceof IOException) {
            return Kind.TRANSIENT;
        }
        if (error instanceof JedisDataException) {
            String message = String.valueOf(error.getMessage());
            if (message.startsWith("NOAUTH") || message.startsWith("WRONGPASS") || message.startsWith("NOPERM")) {
                return Kind.FATAL;
            }
            if (message.startsWith("LOADING") || message.startsWith("BUSY") || message.startsWith("TRYAGAIN")) {
                return Kind.TRANSIENT;
            }
            return Kind.DATA;
        }
        if (error instanceof ClientException) {
            return Kind.DATA;
        }
        return Kind.FATAL;
    }

    /** An action that may throw what a store's client raises. */
    @FunctionalInterface
    public interface Action {
        void run() throws Exception;
    }

    /**
     * Run {@code action}, retrying transient errors with exponential backoff (backpressure, no DLQ) while
     * {@code running}; a data error comes out as {@link DataError}, anything else as it was raised.
     */
    public static void retryTransient(Action action, String what, BooleanSupplier running) throws Exception {
        long delay = INITIAL_DELAY_MS, waited = 0;
        while (true) {
            try {
                action.run();
                return;
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception error) {
                Kind kind = classify(error);
                if (kind == Kind.DATA) {
                    throw new DataError(error);
                }
                if (kind == Kind.FATAL || waited >= DEADLINE_MS || !running.getAsBoolean()) {
                    throw error;
                }
                LOG.warn("{} write failed ({}); retrying in {} ms", what, error, delay);
                Thread.sleep(delay);
                waited += delay;
                delay = Math.min(delay * 2, MAX_DELAY_MS);
            }
        }
    }

    /** FalkorDB over its Redis protocol: GRAPH.QUERY with the rows in the CYPHER parameter header. */
    public static final class FalkorStore implements Store {
        private static final ProtocolCommand GRAPH_QUERY = () -> SafeEncoder.encode("GRAPH.QUERY");
        private static final int SOCKET_TIMEOUT_MS = 120_000;
        private final Settings settings;
        private Jedis jedis;
        private boolean indexed;

        public FalkorStore(Settings settings) {
            this.settings = settings;
        }

        @Override
        public String name() {
            return "FalkorGraphWriter";  // the label Python's writer reports its metrics under
        }

        private Jedis connection() {
            if (jedis == null) {
                DefaultJedisClientConfig.Builder config = DefaultJedisClientConfig.builder()
                        .connectionTimeoutMillis(5000).socketTimeoutMillis(SOCKET_TIMEOUT_MS)
                        .clientName("argus-failures-graph-sink");
                if (settings.falkordbPassword != null) {
                    config.user(settings.falkordbUser).password(settings.falkordbPassword);
                }
                jedis = new Jedis(settings.falkordbHost, settings.falkordbPort, config.build());
            }
            return jedis;
        }

        private void query(String cypher) {
            try {
                connection().sendCommand(GRAPH_QUERY, settings.falkordbGraph, cypher, "--compact");
            } catch (JedisConnectionException e) {
                close();  // a broken connection is not reused: the retry connects anew
                throw e;
            }
        }

        private void ensureIndexes() {
            if (indexed) {
                return;
            }
            for (String index : settings.indexes) {
                String[] parts = index.split(":", 2);
                for (String property : parts[1].split(",")) {
                    try {  // index creation is not idempotent in FalkorDB: an existing one is refused
                        query("CREATE INDEX FOR (n:" + parts[0] + ") ON (n." + property + ")");
                    } catch (JedisDataException e) {
                        if (!String.valueOf(e.getMessage()).contains("already indexed")) {
                            throw e;
                        }
                    }
                }
            }
            indexed = true;
        }

        @Override
        public void write(Plan plan) {
            ensureIndexes();
            for (Map.Entry<Integer, List<Map<String, Object>>> statement : plan.statements()) {
                StringBuilder cypher = new StringBuilder("CYPHER rows=");
                literal(cypher, statement.getValue());
                query(cypher.append(' ').append(settings.statements[statement.getKey()]).toString());
            }
        }

        /** A value in FalkorDB's parameter syntax, as its Python client writes one (stringify_param_value). */
        static void literal(StringBuilder out, Object value) {
            if (value == null) {
                out.append("null");
            } else if (value instanceof String text) {
                out.append('"');
                for (int i = 0; i < text.length(); i++) {
                    char c = text.charAt(i);
                    if (c == '\\' || c == '"') {
                        out.append('\\');
                    }
                    out.append(c);
                }
                out.append('"');
            } else if (value instanceof List<?> list) {
                out.append('[');
                for (int i = 0; i < list.size(); i++) {
                    if (i > 0) {
                        out.append(',');
                    }
                    literal(out, list.get(i));
                }
                out.append(']');
            } else if (value instanceof Map<?, ?> map) {
                out.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> entry : map.entrySet()) {
                    if (!first) {
                        out.append(',');
                    }
                    first = false;
                    out.append(entry.getKey()).append(':');  // keys are the fields' names, never data
                    literal(out, entry.getValue());
                }
                out.append('}');
            } else if (value instanceof Double || value instanceof Float) {
                out.append(BigDecimal.valueOf(((Number) value).doubleValue()).toPlainString());
            } else if (value instanceof Number || value instanceof Boolean) {
                out.append(value);
            } else {
                throw new IllegalArgumentException("no FalkorDB literal for " + value.getClass());
            }
        }

        @Override
        public void close() {
            if (jedis != null) {
                try {
                    jedis.close();
                } catch (RuntimeException e) {
                    LOG.debug("closing the FalkorDB connection", e);
                }
                jedis = null;
            }
        }
    }

    /** Neo4j through its Java driver: a batch's statements in one write transaction (all or nothing). */
    public static final class Neo4jStore implements Store {
        private final Settings settings;
        private Driver driver;
        private boolean indexed;

        public Neo4jStore(Settings settings) {
            this.settings = settings;
        }

        @Override
        public String name() {
            return "Neo4jGraphWriter";
        }

        private Driver driver() {
            if (driver == null) {
                Config config = Config.builder()
                        .withConnectionTimeout(5, java.util.concurrent.TimeUnit.SECONDS)
                        .withMaxTransactionRetryTime(5, java.util.concurrent.TimeUnit.SECONDS)
                        .build();
                driver = GraphDatabase.driver(settings.neo4jUri,
                        AuthTokens.basic(settings.neo4jUser, settings.neo4jPassword), config);
            }
            return driver;
        }

        private void ensureIndexes() {
            if (indexed) {
                return;
            }
            for (String index : settings.indexes) {  // graph.neo4j_ensure_indexes: a uniqueness constraint per key
                String[] parts = index.split(":", 2);
                StringBuilder fields = new StringBuilder();
                for (String property : parts[1].split(",")) {
                    fields.append(fields.length() > 0 ? ", " : "").append("n.").append(property);
                }
                driver().executableQuery("CREATE CONSTRAINT argus_" + parts[0].toLowerCase() + "_unique IF NOT EXISTS "
                        + "FOR (n:" + parts[0] + ") REQUIRE (" + fields + ") IS UNIQUE").execute();
            }
            indexed = true;
        }

        @Override
        public void write(Plan plan) {
            ensureIndexes();
            try (Session session = driver().session()) {
                session.executeWrite(tx -> {
                    for (Map.Entry<Integer, List<Map<String, Object>>> statement : plan.statements()) {
                        tx.run(settings.statements[statement.getKey()], Map.of("rows", statement.getValue())).consume();
                    }
                    return null;
                });
            }
        }

        @Override
        public void close() {
            if (driver != null) {
                driver.close();
                driver = null;
            }
        }
    }
}
