package io.optune.jobs;

import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The whole topology on a local mini cluster (RocksDB, checkpoints, both feedback edges), through
 * the embedded entry point with a small budget.
 */
class OptuneTopologyITCase {
    @TempDir
    Path dir;

    private Configuration config(String... overrides) throws Exception {
        String[] base = {
            "--optune.embedded.duration", "45s",
            "--optune.embedded.sft-steps", "300",
            "--optune.embedded.progress-interval", "10s",
            "--optune.train.held-out-size", "128",
            "--optune.train.publish-every", "10",
        };
        String[] all = new String[base.length + overrides.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(overrides, 0, all, base.length, overrides.length);
        return EmbeddedRuns.config(dir.resolve("run"), all);
    }

    @Test
    void optuneLoopPublishesVersionsThatReachTheGeneratorsAndLearns() throws Exception {
        Path audit = dir.resolve("pairs");
        int port = freePort();
        DashboardProbe probe = new DashboardProbe(port);
        probe.start();
        EmbeddedMain.Summary s;
        try {
            s = EmbeddedMain.run(config("--optune.pairs.audit-path", audit.toUri().toString(),
                    "--optune.embedded.dashboard-port", String.valueOf(port)));
        } finally {
            probe.interrupt();
            probe.join();
        }
        assertThat(s.dashboard()).isEqualTo("http://127.0.0.1:" + port + "/");
        assertThat(probe.index).as("the dashboard's page on its port").contains("<html").containsIgnoringCase("flink");
        assertThat(probe.jobs).as("the REST API beside it").contains("optune-embedded");
        Path runDir = dir.resolve("run");
        assertThat(Files.readAllBytes(runDir.resolve(RunPlots.PNG))).startsWith(0x89, 'P', 'N', 'G');
        assertThat(Files.readString(runDir.resolve(RunPlots.HTML))).contains("data:image/png;base64,").contains("<td>" + s.finalVersion() + "</td>");
        assertThat(s.versionsEmitted()).isGreaterThanOrEqualTo(3);
        // Version 0 is loaded at start; every later load came through the broadcast feedback edge.
        assertThat(s.generatorVersionLoads()).isGreaterThanOrEqualTo(4);
        assertThat(s.finalHeldOutReward()).isGreaterThan(s.sftHeldOutReward());
        // The evaluate step scored versions beside the trainer (the driver adds the final one if it was skipped).
        assertThat(Files.readAllLines(runDir.resolve(EmbeddedMain.HELD_OUT_FILE))).hasSizeGreaterThanOrEqualTo(3);
        EmbeddedMain.Progress last = s.timeline().get(s.timeline().size() - 1);
        assertThat(last.generatorBusyUs()).as("sampling time").isPositive();
        assertThat(last.trainerBusyUs()).as("DPO step time").isPositive();
        // Every arrival is decided once; an arrival of a prompt being regenerated is skipped, outside the share.
        assertThat(s.promptsRegenerated() + s.promptsReused() + s.promptsSkippedInFlight()).isEqualTo(s.promptsIn());
        assertThat(s.promptsReused()).isPositive();
        assertThat(s.regeneratedFraction()).isLessThan(0.9);
        assertThat(s.deadLetters()).isZero();
        assertThat(s.savepoint()).isNotNull();
        for (int i = 1; i < s.versions().size(); i++) {
            assertThat(s.versions().get(i).version()).isEqualTo(s.versions().get(i - 1).version() + 1);
        }
        assertThat(Files.readString(dir.resolve("run").resolve("summary.json"))).contains("\"finalHeldOutReward\"");
        // The audit sink committed pairs, fresh and reused, as JSON lines.
        try (var files = Files.list(audit)) {
            String lines = files.filter(f -> !f.getFileName().toString().startsWith(".")).map(f -> {
                try {
                    return Files.readString(f);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).reduce("", String::concat);
            assertThat(lines).contains("\"fresh\":true").contains("\"fresh\":false").contains("\"chosen\"");
        }
    }

    @Test
    void fullOnlineDpoBaselineRegeneratesEveryPrompt() throws Exception {
        EmbeddedMain.Summary s = EmbeddedMain.run(config(
                "--optune.select.strategy", "ALL", "--optune.select.rho", "1", "--optune.pairs.weighting", "NONE",
                "--optune.embedded.duration", "30s"));
        assertThat(s.versionsEmitted()).isGreaterThanOrEqualTo(2);
        assertThat(s.promptsReused()).isZero();
        assertThat(s.regeneratedFraction()).isEqualTo(1.0);
    }

    private static int freePort() throws java.io.IOException {
        try (var socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    /** Polls the dashboard while the run goes on; keeps the first good answers. */
    static final class DashboardProbe extends Thread {
        private final int port;
        volatile String index = "";
        volatile String jobs = "";

        DashboardProbe(int port) {
            this.port = port;
            setDaemon(true);
        }

        @Override
        public void run() {
            var client = java.net.http.HttpClient.newHttpClient();
            while (!isInterrupted() && (index.isEmpty() || !jobs.contains("optune-embedded"))) {
                try {
                    if (index.isEmpty()) {
                        index = get(client, "/");
                    }
                    jobs = get(client, "/jobs/overview");
                } catch (InterruptedException e) {
                    return;
                } catch (java.io.IOException notYet) {
                    // the cluster starts after the SFT warm start
                }
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        private String get(java.net.http.HttpClient client, String path) throws java.io.IOException, InterruptedException {
            var response = client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + path)).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            return response.statusCode() == 200 ? response.body() : "";
        }
    }
}
