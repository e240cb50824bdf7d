package io.optune.jobs;

import org.apache.logging.log4j.core.LoggerContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The embedded run's logging configuration as shipped ({@code conf/log4j-embedded.properties}), in a
 * logger context of its own: the console gets problems only, without the known-harmless repeats and
 * without colour codes; the run's log file gets everything.
 */
class EmbeddedLoggingTest {
    @TempDir
    Path dir;

    @Test
    void consoleShowsProblemsOnlyAndTheFileHoldsTheFullLog() throws Exception {
        Path file = dir.resolve(RunLogging.FILE);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        PrintStream out = System.out;
        String before = System.getProperty(RunLogging.PROPERTY);
        System.setProperty(RunLogging.PROPERTY, file.toString());
        System.setOut(new PrintStream(console, true, StandardCharsets.UTF_8));
        LoggerContext ctx = new LoggerContext("embedded-logging-test", null, Path.of("..", "conf", "log4j-embedded.properties").toUri());
        try {
            ctx.start();
            var metrics = ctx.getLogger("org.apache.flink.metrics.MetricGroup");
            for (int i = 0; i < 3; i++) {
                metrics.warn("Name collision: Group already contains a Metric with the name 'pendingCommittables'. Metric will not be "
                        + "reported.[, taskmanager, x, optune-embedded, dead-letter-sink: Committer, 0]");
            }
            metrics.warn("Name collision: Group already contains a Metric with the name 'loss'. Metric will not be reported.");
            ctx.getLogger("org.apache.flink.runtime.checkpoint.CheckpointCoordinator").info("Completed checkpoint 7 for job x");
            ctx.getLogger("org.apache.flink.runtime.security.token.DefaultDelegationTokenManager").warn("No tokens obtained so skipping notifications");
            ctx.getLogger(EmbeddedMain.class.getName()).info("[   15s] prompts 210");
            ctx.getLogger("io.optune.operators.score.ScoreFunction").warn("3 prompt(s) could not be scored");
        } finally {
            ctx.stop();
            System.setOut(out);
            if (before == null) {
                System.clearProperty(RunLogging.PROPERTY);
            } else {
                System.setProperty(RunLogging.PROPERTY, before);
            }
        }
        String shown = console.toString(StandardCharsets.UTF_8);
        assertThat(shown).doesNotContain("pendingCommittables").doesNotContain("Completed checkpoint").doesNotContain("No tokens")
                .doesNotContain("prompts 210").doesNotContain("\u001b[")
                .contains("with the name 'loss'").contains("could not be scored");
        String logged = Files.readString(file);
        assertThat(logged).contains("Completed checkpoint 7").contains("prompts 210").contains("could not be scored")
                .contains("with the name 'loss'").doesNotContain("pendingCommittables").doesNotContain("\u001b[");
    }
}
