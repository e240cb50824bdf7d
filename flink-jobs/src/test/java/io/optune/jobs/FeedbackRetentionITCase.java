package io.optune.jobs;

import io.optune.operators.faults.FaultInjection;
import io.optune.operators.records.PromptOutcome;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The memory feedback directory stays small over a run with a failure: committed files are read
 * back and deleted once a checkpoint after their reading completes, and nothing is lost on the way
 * (the ledger accounts for a fixed feed exactly once, and prompts are reused from memory that came
 * through the loop).
 */
class FeedbackRetentionITCase {
    static final int FEED = 1200;
    static final int BATCH = 16;
    static final long SEED = 11;

    @TempDir
    Path dir;

    @AfterEach
    void disarm() {
        FaultInjection.reset();
    }

    @Test
    void consumedFeedbackFilesAreDeletedAndRecoveryStaysExact() throws Exception {
        FaultInjection.reset();
        FaultInjection.arm(FaultInjection.Point.INGEST, 500);
        Watcher watcher = new Watcher(dir.resolve("run/feedback"));
        watcher.start();
        EmbeddedMain.Summary s;
        try {
            s = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run"),
                "--optune.seed", String.valueOf(SEED),
                "--optune.source.builtin.count", String.valueOf(FEED),
                "--optune.batch.size", String.valueOf(BATCH),
                "--optune.embedded.duration", "45s",
                "--optune.embedded.sft-steps", "300",
                "--optune.embedded.progress-interval", "15s",
                "--optune.train.held-out-size", "32",
                "--optune.train.publish-every", "10"));
        } finally {
            watcher.interrupt();
            watcher.join();
        }

        List<PromptOutcome> ledger = Ledgers.committed(dir.resolve("run/ledger"));

        List<Path> committed;
        try (Stream<Path> files = Files.walk(dir.resolve("run/feedback"))) {
            committed = files.filter(Files::isRegularFile).filter(f -> !f.getFileName().toString().startsWith(".")).toList();
        }
        System.out.printf("[feedback] %d committed files seen during the run, at most %d at once, %d left; ledger %s%n",
                watcher.seen.size(), watcher.most, committed.size(), Ledgers.tally(ledger));
        // The watcher polls, so it misses files that come and go between two looks (more of them on a fast
        // machine): it must have seen files flow, and fewer must be left than it saw.
        assertThat(watcher.seen.size()).as("committed feedback files seen during the run").isPositive();
        // What is left is what the last checkpoints and the final savepoint committed after the last
        // read, not the run's history.
        assertThat(committed).as("committed feedback files left").hasSizeLessThanOrEqualTo(3)
                .hasSizeLessThan(watcher.seen.size());
        assertThat(watcher.most).as("committed feedback files at once").isLessThanOrEqualTo(10);
        assertThat(FaultInjection.fired(FaultInjection.Point.INGEST)).as("the fault fired").isTrue();
        // Reuse needs a stored pair, which reaches select only through the feedback directory.
        assertThat(s.promptsReused()).as("prompts reused from memory fed back").isPositive();
        Ledgers.assertAccountsForBuiltinFeed(ledger, SEED, FEED, BATCH);
    }

    /** Samples the committed files of the feedback directory while the run goes on. */
    static final class Watcher extends Thread {
        private final Path feedback;
        final java.util.Set<String> seen = java.util.concurrent.ConcurrentHashMap.newKeySet();
        volatile int most;

        Watcher(Path feedback) {
            this.feedback = feedback;
            setDaemon(true);
        }

        @Override
        public void run() {
            while (!isInterrupted()) {
                try (Stream<Path> files = Files.list(feedback)) {
                    List<String> now = files.map(f -> f.getFileName().toString()).filter(n -> !n.startsWith(".")).toList();
                    seen.addAll(now);
                    most = Math.max(most, now.size());
                } catch (java.io.IOException | java.io.UncheckedIOException notYet) {
                    // created when the job starts; files vanish while listed
                }
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }
}
