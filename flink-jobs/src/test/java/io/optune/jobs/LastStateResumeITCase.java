package io.optune.jobs;

import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PromptOutcome;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a Kubernetes {@code last-state} upgrade does, and what {@code --resume} does for a user: the
 * first job is cancelled mid-feed without a savepoint (as a lost JobManager would leave it), and a
 * second run, given only {@code --resume latest}, finds that run's newest retained checkpoint and
 * continues it in the same directory. Together the two jobs account for every arrival of the fixed
 * feed exactly once, the second continues the first's versions and trainer steps, nothing of the
 * first is deleted but the in-progress parts it left uncommitted.
 */
class LastStateResumeITCase {
    static final int FEED = 4000; // 16 s of feed; the first job is cancelled after 12 s
    static final long SEED = 5;

    @TempDir
    Path dir;

    private Configuration config(String... overrides) throws Exception {
        String[] shared = {
            "--conf", "../" + JobConfig.DEFAULT_FILE,
            "--flink-conf", "../" + JobConfig.EMBEDDED_FLINK_FILE,
            "--optune.embedded.runs-dir", dir.toString(),
            "--optune.embedded.dashboard-port", "0",
            "--optune.source.builtin.pool-size", "512",
            "--optune.source.builtin.prompts-per-second", "250",
            "--optune.seed", String.valueOf(SEED),
            "--optune.source.builtin.count", String.valueOf(FEED),
            "--optune.embedded.sft-steps", "300",
            "--optune.train.held-out-size", "32",
            "--optune.train.publish-every", "10",
        };
        String[] all = java.util.Arrays.copyOf(shared, shared.length + overrides.length);
        System.arraycopy(overrides, 0, all, shared.length, overrides.length);
        return JobConfig.load(ResumeFlag.expand(all));
    }

    @Test
    void resumeFindsTheRetainedCheckpointOfACancelledRunAndContinuesItInPlace() throws Exception {
        EmbeddedMain.Summary first = EmbeddedMain.run(config("--optune.embedded.duration", "12s", "--optune.embedded.stop-mode", "CANCEL"));
        Path runDir = Path.of(first.runDir());
        assertThat(runDir.getParent()).isEqualTo(dir);
        assertThat(first.savepoint()).isNull();
        assertThat(first.checkpoint()).as("a retained checkpoint in %s", listing(runDir.resolve("checkpoints"))).isNotNull();
        assertThat(RunDirectory.readState(runDir)).get().extracting(RunDirectory.State::status).isEqualTo(RunDirectory.Status.CANCELLED);
        assertThat(RunDirectory.unfinished(dir)).containsExactly(runDir);
        int firstJobOutcomes = Ledgers.committed(runDir.resolve("ledger")).size();
        assertThat(firstJobOutcomes).as("the first job was cut off mid-feed").isLessThan(FEED);

        // As a driver killed before its last poll leaves it: the first job's last version without a held-out
        // reward. The second run keeps only 2 versions, so that one is pruned long before its summary.
        Path heldOut = runDir.resolve(EmbeddedMain.HELD_OUT_FILE);
        Files.write(heldOut, Files.readAllLines(heldOut).stream().filter(l -> !l.startsWith(first.finalVersion() + ",")).toList());
        EmbeddedMain.Summary second = EmbeddedMain.run(config("--resume", "--optune.embedded.duration", "35s",
                "--optune.weights.retain-versions", "2"));
        assertThat(Path.of(second.runDir())).isEqualTo(runDir.toRealPath());
        assertThat(second.resumedFrom()).isEqualTo(Path.of(first.checkpoint()).toRealPath().toString());
        assertThat(Path.of(first.checkpoint())).as("the first job's state is kept").exists();
        assertThat(RunDirectory.unfinished(dir)).isEmpty();

        List<PromptOutcome> ledger = Ledgers.committed(runDir.resolve("ledger"));
        Ledgers.assertAccountsForBuiltinFeed(ledger, SEED, FEED, 16);
        System.out.printf("[last-state] first job committed %d outcomes, both %d: %s%n", firstJobOutcomes, ledger.size(),
                Ledgers.tally(ledger));
        try (Stream<Path> files = Files.walk(runDir)) {
            long staleInProgress = files.filter(RunDirectory::isInProgress)
                    .filter(p -> p.toFile().lastModified() < second.jobStartedAt()).count();
            assertThat(staleInProgress).as("in-progress parts the cancelled job left behind").isZero();
        }

        List<PolicyUpdate> versions = second.versions();
        assertThat(second.finalVersion()).isGreaterThan(first.finalVersion());
        assertThat(second.baselineVersion()).isEqualTo(first.finalVersion());
        assertThat(second.versionsTotal()).isEqualTo(first.versionsEmitted() + second.versionsEmitted());
        assertThat(second.baselineHeldOutReward()).as("the version the run resumed from, evaluated before it was pruned").isNotNull();
        assertThat(SummaryReport.format(second)).contains("where this run resumed").doesNotContain("NaN").doesNotContain("not measured");
        WeightLogs.assertGapFreeAndLoadable(versions, second.weightLog(), 2);
    }

    private static String listing(Path p) throws java.io.IOException {
        if (!Files.exists(p)) {
            return "(missing)";
        }
        try (var s = Files.walk(p, 3)) {
            return s.map(x -> p.relativize(x).toString()).toList().toString();
        }
    }
}
