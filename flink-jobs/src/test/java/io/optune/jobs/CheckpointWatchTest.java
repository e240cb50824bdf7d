package io.optune.jobs;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

class CheckpointWatchTest {
    @TempDir
    Path dir;

    private void checkpoint(int n, long completedAt) throws Exception {
        Path meta = Files.createDirectories(dir.resolve("chk-" + n)).resolve("_metadata");
        Files.write(meta, new byte[] {1});
        Files.setLastModifiedTime(meta, FileTime.fromMillis(completedAt));
    }

    @Test
    void aRunIsOverdueOnlyWhenNoCheckpointCompletedForFiveIntervals() throws Exception {
        long start = 1_000_000;
        CheckpointWatch watch = new CheckpointWatch(dir, Duration.ofSeconds(10), Duration.ofMinutes(3), start);
        assertThat(watch.overdueAfter()).isEqualTo(Duration.ofSeconds(50));
        // None yet: counted from the job's start.
        assertThat(watch.overdue(start + 49_000)).isEmpty();
        assertThat(watch.overdue(start + 51_000)).get().asString().contains("none yet").contains("51 s").contains("180 s");
        checkpoint(1, start + 20_000);
        checkpoint(2, start + 30_000);
        Files.createDirectories(dir.resolve("chk-3")); // in progress: no metadata yet
        assertThat(watch.overdue(start + 79_000)).isEmpty();
        assertThat(watch.overdue(start + 95_000)).get().asString().contains("newest chk-2").contains("65 s");
    }

    @Test
    void shortIntervalsAreGivenAtLeastThirtySeconds() {
        assertThat(new CheckpointWatch(dir, Duration.ofSeconds(2), Duration.ofMinutes(3), 0).overdueAfter())
                .isEqualTo(Duration.ofSeconds(30));
    }
}
