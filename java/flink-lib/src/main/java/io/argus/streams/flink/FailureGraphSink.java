package io.argus.streams.flink;

import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.ThreadSafeSimpleCounter;
import org.apache.flink.streaming.api.datastream.AsyncDataStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.async.ResultFuture;
import org.apache.flink.streaming.api.functions.async.RichAsyncFunction;
import org.apache.flink.streaming.util.retryable.AsyncRetryStrategies;
import org.apache.flink.types.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The failure job's graph sink in the JVM: each element (one tenant's coalesced upsert rows, the JSON array
 * {@link FailureAggregator} emits) is written to FalkorDB and Neo4j, each store by a writer thread of its own.
 * A writer takes every element that arrived while its last write ran (up to {@link #BATCH_ELEMENTS}), keeps the
 * newest row per graph key ({@link GraphWrites.Plan}) and writes them as three UNWIND statements; the stores
 * write side by side, and an element completes when both wrote it.
 *
 * <p>Errors follow the project's one policy ({@link GraphWrites#classify}): a store that is down or slow is
 * retried with exponential backoff (0.2 s to 10 s, for up to 10 minutes) inside the writer, so the async queue
 * fills and the source slows (backpressure), and nothing reaches the DLQ; past that deadline, or on refused
 * credentials, the element fails and Flink retries it, then fails over to the last checkpoint. A batch a store
 * refuses as data is written again row by row, and each refused row comes out of this operator as
 * {@code (row JSON, store, error)} for the DLQ: the only output.
 *
 * <p>Rows carry absolute values behind the statements' monotonic guards, so an element written twice (a
 * restore replays the in-flight elements its checkpoint holds) changes nothing.
 */
public final class FailureGraphSink extends RichAsyncFunction<String, Row> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(FailureGraphSink.class);

    public static final String UID = "failures-graph-sink-jvm-v1";
    /** Elements (each a tenant's rows of one flush) sharing one UNWIND write per store. */
    public static final int BATCH_ELEMENTS = 64;
    /** Elements in flight: the async operator's queue (the source slows when it is full). */
    public static final int CAPACITY = 100;
    /** Transient outages are retried inside; this only catches a write that hangs. */
    public static final long TIMEOUT_MINUTES = 15;
    /** The refused rows this operator emits: (row JSON, store, error type, error message). */
    public static final TypeInformation<Row> REFUSED_TYPE = Types.ROW_NAMED(
            new String[] {"row", "store", "error_type", "error_message"},
            Types.STRING, Types.STRING, Types.STRING, Types.STRING);

    private final GraphWrites.Settings settings;
    private transient List<Writer> writers;
    private transient Counter batches;
    private transient Counter writeMs;

    public FailureGraphSink(GraphWrites.Settings settings) {
        this.settings = settings;
    }

    /**
     * The sink the Python job wires in: unordered async I/O (one subtask unless said otherwise), Flink retrying
     * an element whose write failed past the writer's own deadline 5 more times (1 s to 30 s) before failing over.
     */
    public static SingleOutputStreamOperator<Row> write(
            DataStream<String> elements, String falkordbUrl, String falkordbGraph, String neo4jUri,
            String neo4jUser, String neo4jPassword, boolean neo4j, String[] statements, String[] indexes,
            int parallelism) throws URISyntaxException {
        GraphWrites.Settings settings = GraphWrites.Settings.of(
                falkordbUrl, falkordbGraph, neo4j ? neo4jUri : null, neo4jUser, neo4jPassword, statements, indexes);
        AsyncRetryStrategies.ExponentialBackoffDelayRetryStrategy<Row> retry =
                new AsyncRetryStrategies.ExponentialBackoffDelayRetryStrategyBuilder<Row>(5, 1000L, 30_000L, 2.0)
                        .ifException((java.util.function.Predicate<Throwable> & java.io.Serializable) error -> true)
                        .build();
        SingleOutputStreamOperator<Row> refused = AsyncDataStream.unorderedWaitWithRetry(
                        elements, new FailureGraphSink(settings), TIMEOUT_MINUTES, TimeUnit.MINUTES, CAPACITY, retry)
                .returns(REFUSED_TYPE)
                .name("Graph upsert (JVM): FalkorDB + Neo4j, async")
                .uid(UID);
        refused.disableChaining();
        if (parallelism > 0) {
            refused.setParallelism(parallelism);
        }
        return refused;
    }

    @Override
    public void open(OpenContext openContext) {
        MetricGroup argus = getRuntimeContext().getMetricGroup().addGroup("argus");
        batches = argus.counter("graph_write_batches", new ThreadSafeSimpleCounter());
        writeMs = argus.counter("graph_write_ms", new ThreadSafeSimpleCounter());
        writers = new ArrayList<>();
        writers.add(new Writer(new GraphWrites.FalkorStore(settings), argus));
        if (settings.neo4jUri != null) {
            writers.add(new Writer(new GraphWrites.Neo4jStore(settings), argus));
        }
        for (Writer writer : writers) {
            writer.start();
        }
    }

    @Override
    public void close() throws Exception {
        if (writers != null) {
            for (Writer writer : writers) {
                writer.shutdown();
            }
        }
    }

    @Override
    public void asyncInvoke(String element, ResultFuture<Row> result) throws Exception {
        List<Map<String, Object>> rows = GraphWrites.rows(element);
        Pending pending = new Pending(rows, result, writers.size());
        for (Writer writer : writers) {
            writer.queue.add(pending);
        }
    }

    /** One element on its way into both stores: complete when every store wrote (or refused) its rows. */
    private final class Pending {
        final List<Map<String, Object>> rows;
        final ResultFuture<Row> result;
        final AtomicInteger stores;
        final Map<Integer, Row> refused = new ConcurrentHashMap<>();
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Pending(List<Map<String, Object>> rows, ResultFuture<Row> result, int stores) {
            this.rows = rows;
            this.result = result;
            this.stores = new AtomicInteger(stores);
        }

        /** A row a store refused as data: one dead letter per row, whichever store refused it first. */
        void refuse(int index, String store, Exception error) {
            String row;
            try {
                row = GraphWrites.JSON.writeValueAsString(rows.get(index));
            } catch (Exception e) {
                row = String.valueOf(rows.get(index));
            }
            refused.putIfAbsent(index, Row.of(row, store, error.getClass().getSimpleName(),
                    String.valueOf(error.getMessage())));
        }

        void storeDone(Throwable error) {
            if (error != null) {
                failure.compareAndSet(null, error);
            }
            if (stores.decrementAndGet() == 0) {
                Throwable failed = failure.get();
                if (failed != null) {
                    result.completeExceptionally(failed);
                } else {
                    result.complete(refused.isEmpty() ? Collections.emptyList() : new ArrayList<>(refused.values()));
                }
            }
        }
    }

    /** A store's writer thread: one write in flight, the elements that arrive meanwhile share the next. */
    private final class Writer extends Thread {
        final GraphWrites.Store store;
        final BlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
        final Counter rows;
        volatile long lastMs;
        volatile boolean running = true;

        Writer(GraphWrites.Store store, MetricGroup argus) {
            super("argus-graph-writer-" + store.name());
            setDaemon(true);
            this.store = store;
            MetricGroup group = argus.addGroup("store", store.name());
            rows = group.counter("graph_write_rows", new ThreadSafeSimpleCounter());
            group.gauge("graph_write_last_ms", () -> lastMs);
        }

        void shutdown() throws InterruptedException {
            running = false;
            interrupt();
            join(10_000);
            store.close();
        }

        @Override
        public void run() {
            List<Pending> batch = new ArrayList<>();
            while (running) {
                try {
                    Pending first = queue.poll(200, TimeUnit.MILLISECONDS);
                    if (first == null) {
                        continue;
                    }
                    batch.clear();
                    batch.add(first);
                    queue.drainTo(batch, BATCH_ELEMENTS - 1);
                    write(batch);
                } catch (InterruptedException e) {
                    return;  // closing: what is still queued is in the checkpoint, and replayed on restore
                }
            }
        }

        private void write(List<Pending> batch) throws InterruptedException {
            List<Map<String, Object>> all = new ArrayList<>();
            for (Pending pending : batch) {
                all.addAll(pending.rows);
            }
            long started = System.nanoTime();
            try {
                GraphWrites.Plan plan = GraphWrites.Plan.of(all);
                GraphWrites.retryTransient(() -> store.write(plan), store.name(), () -> running);
                long ms = (System.nanoTime() - started) / 1_000_000;
                lastMs = ms;
                batches.inc();
                writeMs.inc(ms);
                rows.inc(plan.size());
                for (Pending pending : batch) {
                    pending.storeDone(null);
                }
            } catch (GraphWrites.DataError refused) {
                for (Pending pending : batch) {
                    pending.storeDone(writeRowByRow(pending));
                }
            } catch (InterruptedException e) {
                throw e;
            } catch (Throwable fatal) {
                LOG.error("{} write failed: the elements fail and are retried, then the job fails over",
                        store.name(), fatal);
                for (Pending pending : batch) {
                    pending.storeDone(fatal);
                }
            }
        }

        /** A refused batch: this element's rows one by one, so only the rows the store refuses are dead-lettered. */
        private Throwable writeRowByRow(Pending pending) throws InterruptedException {
            for (int i = 0; i < pending.rows.size(); i++) {
                GraphWrites.Plan plan = GraphWrites.Plan.of(List.of(pending.rows.get(i)));
                try {
                    GraphWrites.retryTransient(() -> store.write(plan), store.name(), () -> running);
                    rows.inc(plan.size());
                } catch (GraphWrites.DataError refused) {
                    pending.refuse(i, store.name(), refused.getCause() instanceof Exception
                            ? (Exception) refused.getCause() : refused);
                } catch (InterruptedException e) {
                    throw e;
                } catch (Throwable fatal) {
                    return fatal;
                }
            }
            return null;
        }
    }
}
