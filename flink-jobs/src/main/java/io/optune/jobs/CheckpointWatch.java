package io.optune.jobs;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * Says when an embedded run's checkpoints stopped completing. A loop whose checkpoints hang makes no
 * progress at all (the memory feedback and the ledger commit with checkpoints) while every task looks
 * idle; Flink ends that state only at {@code execution.checkpointing.timeout}, by failing the job over.
 * Until then the progress line says how long it has been, so nobody mistakes a stall for a slow run.
 */
final class CheckpointWatch {
    private final Path jobCheckpointDir;
    private final Duration interval;
    private final Duration timeout;
    private final long startedAt;

    CheckpointWatch(Path jobCheckpointDir, Duration interval, Duration timeout, long startedAt) {
        this.jobCheckpointDir = jobCheckpointDir;
        this.interval = interval;
        this.timeout = timeout;
        this.startedAt = startedAt;
    }

    /** How long a run may go without a completed checkpoint before it is called overdue. */
    Duration overdueAfter() {
        return Duration.ofMillis(Math.max(30_000, 5 * interval.toMillis()));
    }

    /**
     * A warning for the progress line when no checkpoint completed for {@link #overdueAfter}, else
     * empty. {@code now} in epoch milliseconds.
     */
    Optional<String> overdue(long now) throws IOException {
        Optional<Path> newest = RunDirectory.latestCheckpoint(jobCheckpointDir);
        long since = newest.isPresent() ? Files.getLastModifiedTime(newest.get().resolve("_metadata")).toMillis() : startedAt;
        long age = now - since;
        if (age < overdueAfter().toMillis()) {
            return Optional.empty();
        }
        return Optional.of(String.format("NO CHECKPOINT COMPLETED for %d s (%s; every %d s requested): the loop is stalled "
                        + "until one completes; Flink fails the job over when the pending one reaches the %d s checkpoint timeout",
                age / 1000, newest.map(p -> "newest " + p.getFileName()).orElse("none yet"), interval.toSeconds(), timeout.toSeconds()));
    }
}
