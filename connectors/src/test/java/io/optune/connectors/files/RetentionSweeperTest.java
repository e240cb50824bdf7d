package io.optune.connectors.files;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RetentionSweeperTest {
    @TempDir
    Path dir;

    private Path file(String relative, Duration age) throws Exception {
        Path p = dir.resolve(relative);
        Files.createDirectories(p.getParent());
        Files.writeString(p, "{\"payload\":\"user text\"}\n");
        Files.setLastModifiedTime(p, FileTime.from(Instant.now().minus(age)));
        return p;
    }

    @Test
    void deletesOnlyOldCommittedPartFiles() throws Exception {
        Duration old = Duration.ofDays(40);
        file("2026-11-01--10/part-a-0", old);
        file("2026-11-27--10/part-a-1", Duration.ofMinutes(5));
        file("2026-11-01--10/.part-a-2.inprogress.x", old); // a file sink's in-progress file
        file("2026-11-01--10/notes.txt", old); // not ours
        file(".staging/part-a-3", old); // hidden folders are left alone
        int deleted = RetentionSweeper.sweep(new org.apache.flink.core.fs.Path(dir.toUri()),
                System.currentTimeMillis() - Duration.ofDays(30).toMillis());
        assertThat(deleted).isEqualTo(1);
        try (Stream<Path> files = Files.walk(dir)) {
            assertThat(files.filter(Files::isRegularFile).map(p -> dir.relativize(p).toString().replace('\\', '/')))
                    .containsExactlyInAnyOrder("2026-11-27--10/part-a-1", "2026-11-01--10/.part-a-2.inprogress.x",
                            "2026-11-01--10/notes.txt", ".staging/part-a-3");
        }
        assertThat(RetentionSweeper.sweep(new org.apache.flink.core.fs.Path(dir.resolve("absent").toUri()), Long.MAX_VALUE)).isZero();
    }

    @Test
    void runsOnItsIntervalAndPassesRecordsThrough() throws Exception {
        Path stale = file("part-x-0", Duration.ofDays(2));
        var op = new RetentionSweeper<String>(java.util.List.of(dir.toUri().toString()), Duration.ofDays(1), Duration.ofMinutes(10));
        try (var h = new org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness<String, String>(op)) {
            h.setProcessingTime(0);
            h.open();
            h.processElement("a", 0);
            assertThat(h.extractOutputValues()).containsExactly("a");
            h.setProcessingTime(Duration.ofMinutes(9).toMillis());
            assertThat(stale).exists(); // not yet: the sweep runs every 10 minutes
            h.setProcessingTime(Duration.ofMinutes(10).toMillis());
            assertThat(stale).doesNotExist();
        }
        assertThatThrownBy(() -> new RetentionSweeper<String>(java.util.List.of(), Duration.ZERO, Duration.ofMinutes(1)))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
