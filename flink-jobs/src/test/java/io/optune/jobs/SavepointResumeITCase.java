package io.optune.jobs;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Stop with a savepoint, then resume in a new job with more parallelism (keyed select state and the
 * generators redistributed) and changed tuning options: training continues where it stopped.
 */
class SavepointResumeITCase {
    @TempDir
    Path dir;

    @Test
    void resumesFromASavepointWithChangedParallelismAndTuning() throws Exception {
        String weights = dir.resolve("weights").toUri().toString();
        EmbeddedMain.Summary first = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run1"),
            "--optune.weights.path", weights,
            "--optune.embedded.duration", "25s",
            "--optune.embedded.sft-steps", "200",
            "--optune.train.held-out-size", "32",
            "--optune.train.publish-every", "10"));
        assertThat(first.savepoint()).isNotNull();
        assertThat(first.versionsEmitted()).isPositive();

        EmbeddedMain.Summary second = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run2"),
            "--optune.weights.path", weights,
            "--execution.state-recovery.path", first.savepoint(),
            "--parallelism.default", "2",
            "--optune.generate.parallelism", "2",
            "--optune.train.beta", "0.2",
            "--optune.select.rho", "0.25",
            "--optune.batch.size", "8",
            "--optune.embedded.duration", "25s",
            "--optune.train.held-out-size", "32",
            "--optune.train.publish-every", "10"));
        // Versions continue after the first job's, and the trainer continues from its saved step. The
        // first job may still publish a version or two after its savepoint (a partial batch flushed by a
        // timer while stopping); the resumed trainer redoes those steps under new version numbers.
        assertThat(second.finalVersion()).isGreaterThan(first.finalVersion());
        assertThat(second.versions()).filteredOn(v -> v.version() > first.finalVersion())
                .isNotEmpty()
                .allSatisfy(v -> assertThat(v.step()).isGreaterThan(first.trainerSteps() - 2 * 10));
        // The restored response memory is used at once: known prompts are reused from the start.
        assertThat(second.promptsReused()).isPositive();
        assertThat(second.promptsRegenerated()).isPositive();
    }
}
