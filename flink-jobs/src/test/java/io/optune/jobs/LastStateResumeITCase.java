package io.optune.jobs;

import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PromptOutcome;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a Kubernetes {@code last-state} upgrade does: the first job is cancelled mid-feed without a
 * savepoint (as a lost JobManager would leave it), and a new job starts from its newest retained
 * checkpoint. Together the two jobs account for every arrival of the fixed feed exactly once, and
 * the second continues the first's versions and trainer steps.
 */
class LastStateResumeITCase {
    static final int FEED = 4000; // 16 s of feed; the first job is cancelled after 12 s
    static final long SEED = 5;

    @TempDir
    Path dir;

    @Test
    void aNewJobResumesFromTheRetainedCheckpointOfACancelledOne() throws Exception {
        String[] shared = {
            "--optune.seed", String.valueOf(SEED),
            "--optune.source.builtin.count", String.valueOf(FEED),
            "--optune.weights.path", dir.resolve("weights").toUri().toString(),
            "--optune.feedback.path", dir.resolve("feedback").toUri().toString(),
            "--optune.ledger.path", dir.resolve("ledger").toUri().toString(),
            "--optune.dead-letters.path", dir.resolve("dead-letters").toUri().toString(),
            "--optune.embedded.sft-steps", "300",
            "--optune.train.held-out-size", "32",
            "--optune.train.publish-every", "10",
        };
        EmbeddedMain.Summary first = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run1"), concat(shared,
            "--optune.embedded.duration", "12s",
            "--optune.embedded.stop-mode", "CANCEL")));
        assertThat(first.savepoint()).isNull();
        assertThat(first.checkpoint()).as("a retained checkpoint in %s", listing(dir.resolve("run1/checkpoints"))).isNotNull();
        int firstJobOutcomes = Ledgers.committed(dir.resolve("ledger")).size();
        assertThat(firstJobOutcomes).as("the first job was cut off mid-feed").isLessThan(FEED);

        EmbeddedMain.Summary second = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run2"), concat(shared,
            "--execution.state-recovery.path", first.checkpoint(),
            "--optune.embedded.duration", "35s")));

        List<PromptOutcome> ledger = Ledgers.committed(dir.resolve("ledger"));
        Ledgers.assertAccountsForBuiltinFeed(ledger, SEED, FEED, 16);
        System.out.printf("[last-state] first job committed %d outcomes, both %d: %s%n", firstJobOutcomes, ledger.size(),
                Ledgers.tally(ledger));

        List<PolicyUpdate> versions = second.versions();
        assertThat(second.finalVersion()).isGreaterThan(first.finalVersion());
        WeightLogs.assertGapFreeAndLoadable(versions, second.weightLog());
    }

    private static String listing(Path p) throws java.io.IOException {
        if (!java.nio.file.Files.exists(p)) {
            return "(missing)";
        }
        try (var s = java.nio.file.Files.walk(p, 3)) {
            return s.map(x -> p.relativize(x).toString()).toList().toString();
        }
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
