package io.optune.jobs;

import org.apache.flink.metrics.LogicalScopeProvider;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;

import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A metric reporter for tests: remembers the name each registered metric gets from Flink's Prometheus
 * reporter ({@code flink_<logical scope>_<name>}, invalid characters as '_'), so a test can check that
 * every metric the Grafana dashboard queries is one the job registers. Enable with
 * {@code metrics.reporter.collect.factory.class: io.optune.jobs.CollectingMetricReporter}.
 */
public final class CollectingMetricReporter implements MetricReporter, MetricReporterFactory {
    static final Set<String> PROMETHEUS_NAMES = ConcurrentHashMap.newKeySet();

    @Override
    public MetricReporter createMetricReporter(Properties properties) {
        return new CollectingMetricReporter();
    }

    @Override
    public void open(MetricConfig config) {}

    @Override
    public void close() {}

    @Override
    public void notifyOfAddedMetric(Metric metric, String name, MetricGroup group) {
        String scope = LogicalScopeProvider.castFrom(group).getLogicalScope(CollectingMetricReporter::prometheusChars, '_');
        PROMETHEUS_NAMES.add("flink_" + scope + "_" + prometheusChars(name));
    }

    @Override
    public void notifyOfRemovedMetric(Metric metric, String name, MetricGroup group) {}

    /** As the Prometheus reporter filters names: anything but [a-zA-Z0-9:_] becomes '_'. */
    static String prometheusChars(String s) {
        return s.replaceAll("[^a-zA-Z0-9:_]", "_");
    }
}
