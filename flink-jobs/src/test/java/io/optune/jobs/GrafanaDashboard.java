package io.optune.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The chart's Grafana dashboard, read for tests. */
final class GrafanaDashboard {
    static final Path FILE = Path.of("..", "helm", "optune-flink", "dashboards", "optune.json");
    private static final Pattern METRIC = Pattern.compile("\\bflink_[A-Za-z0-9_:]+");

    private GrafanaDashboard() {}

    static JsonNode read() throws IOException {
        return new ObjectMapper().readTree(FILE.toFile());
    }

    /** Every Prometheus metric name a query of the dashboard (panels and variables) names. */
    static Set<String> metricNames() throws IOException {
        Set<String> out = new TreeSet<>();
        read().findValues("expr").forEach(e -> collect(e.asText(), out));
        read().path("templating").path("list").findValues("query").forEach(q -> collect(q.isTextual() ? q.asText() : q.path("query").asText(), out));
        return out;
    }

    private static void collect(String query, Set<String> out) {
        Matcher m = METRIC.matcher(query);
        while (m.find()) {
            out.add(m.group());
        }
    }
}
