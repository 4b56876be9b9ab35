package org.apache.flink.metrics.prometheus;

import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;
import org.apache.flink.util.PortRange;

import java.util.Properties;

/**
 * Creates {@link LoopbackPrometheusReporter}s. Options (under {@code metrics.reporter.<name>.}):
 * {@code host} (default 127.0.0.1) and {@code port} (a port or range, default 9249).
 */
public class LoopbackPrometheusReporterFactory implements MetricReporterFactory {

    static final String ARG_HOST = "host";
    static final String ARG_PORT = "port";
    private static final String DEFAULT_HOST = "127.0.0.1";
    private static final String DEFAULT_PORT = "9249";

    @Override
    public MetricReporter createMetricReporter(Properties properties) {
        String host = properties.getProperty(ARG_HOST, DEFAULT_HOST);
        PortRange ports = new PortRange(properties.getProperty(ARG_PORT, DEFAULT_PORT));
        return new LoopbackPrometheusReporter(host, ports.getPortsIterator());
    }
}
