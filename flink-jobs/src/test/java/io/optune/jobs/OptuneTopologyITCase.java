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
        EmbeddedMain.Summary s = EmbeddedMain.run(config("--optune.pairs.audit-path", audit.toUri().toString()));
        assertThat(s.versionsEmitted()).isGreaterThanOrEqualTo(3);
        // Version 0 is loaded at start; every later load came through the broadcast feedback edge.
        assertThat(s.generatorVersionLoads()).isGreaterThanOrEqualTo(4);
        assertThat(s.finalHeldOutReward()).isGreaterThan(s.sftHeldOutReward());
        assertThat(s.promptsRegenerated() + s.promptsReused()).isEqualTo(s.promptsIn());
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
}
