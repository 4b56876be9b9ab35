package org.apache.flink.metrics.prometheus;

import io.prometheus.client.exporter.HTTPServer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Iterator;

/**
 * Flink's Prometheus reporter, serving on one host address instead of every interface.
 *
 * <p>{@link PrometheusReporter} binds {@code new InetSocketAddress(port)}, i.e. 0.0.0.0, with no option
 * to change it; the local stack keeps every port on 127.0.0.1. This class lives in Flink's package
 * because the registry it exports is package-private in {@link AbstractPrometheusReporter}.
 */
public class LoopbackPrometheusReporter extends AbstractPrometheusReporter {

    private final HTTPServer httpServer;
    private final int port;

    LoopbackPrometheusReporter(String host, Iterator<Integer> ports) {
        HTTPServer server = null;
        int bound = -1;
        while (server == null && ports.hasNext()) {
            int candidate = ports.next();
            try {
                server = new HTTPServer(new InetSocketAddress(host, candidate), registry);
                bound = candidate;
                log.info("Started PrometheusReporter HTTP server on {}:{}.", host, candidate);
            } catch (IOException e) {
                log.debug("Could not start PrometheusReporter HTTP server on {}:{}.", host, candidate, e);
            }
        }
        if (server == null) {
            throw new RuntimeException("Could not start PrometheusReporter HTTP server on " + host
                    + " on any port of the configured range");
        }
        this.httpServer = server;
        this.port = bound;
    }

    int getPort() {
        return port;
    }

    @Override
    public void close() {
        httpServer.stop();
        super.close();
    }
}
