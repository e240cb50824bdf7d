package io.optune.jobs;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.LocalDateTime;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RunDirectoryTest {
    static final LocalDateTime NOW = LocalDateTime.of(2026, 11, 27, 14, 5, 9);

    @TempDir
    Path runs;

    private Configuration conf(String... kv) {
        Configuration c = new Configuration();
        c.set(OptuneOptions.RUNS_DIR, runs.toString());
        for (int i = 0; i < kv.length; i += 2) {
            c.setString(kv[i], kv[i + 1]);
        }
        return c;
    }

    private static void write(Path file, String text, long modifiedAt) throws Exception {
        Files.createDirectories(file.getParent());
        Files.writeString(file, text);
        Files.setLastModifiedTime(file, FileTime.fromMillis(modifiedAt));
    }

    @Test
    void aRerunGetsANewDirectoryAndKeepsTheEarlierRunWhole() throws Exception {
        RunDirectory.Prepared first = RunDirectory.prepare(conf(), NOW);
        Path firstDir = first.run().path();
        assertThat(firstDir).isEqualTo(runs.resolve("20261127-140509"));
        assertThat(first.conf().get(OptuneOptions.RUN_DIR)).isEqualTo(firstDir.toString());
        write(firstDir.resolve("checkpoints/job/chk-4/_metadata"), "m", 1000);
        write(firstDir.resolve("weights/announcements/v1.json"), "{}", 1000);
        assertThat(runs.resolve("latest").toRealPath()).isEqualTo(firstDir.toRealPath());

        RunDirectory.Prepared second = RunDirectory.prepare(conf(), NOW); // same second: a suffix, never a reuse
        assertThat(second.run().path()).isEqualTo(runs.resolve("20261127-140509-2"));
        assertThat(second.run().resumed()).isFalse();
        assertThat(firstDir.resolve("checkpoints/job/chk-4/_metadata")).exists();
        assertThat(firstDir.resolve("weights/announcements/v1.json")).exists();
        assertThat(runs.resolve("latest").toRealPath()).isEqualTo(second.run().path().toRealPath());
        assertThat(Files.readSymbolicLink(runs.resolve("latest"))).as("relative, so the runs folder can move").isRelative();
    }

    @Test
    void aNamedDirectoryThatHoldsARunIsRefusedWithTheChoicesAndLeftAlone() throws Exception {
        Path dir = runs.resolve("mine");
        write(dir.resolve("weights/manifest.json"), "{}", 1000);
        assertThatThrownBy(() -> RunDirectory.prepare(conf("optune.embedded.run-dir", dir.toString()), NOW))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already holds a run").hasMessageContaining("Nothing was deleted")
                .hasMessageContaining("--resume " + dir).hasMessageContaining("optune.embedded.run-dir");
        assertThat(dir.resolve("weights/manifest.json")).exists();
        // an empty or missing named directory is fine
        assertThat(RunDirectory.prepare(conf("optune.embedded.run-dir", runs.resolve("fresh").toString()), NOW).run().path())
                .isEqualTo(runs.resolve("fresh"));
    }

    @Test
    void resumeFindsTheNewestCompleteCheckpointOrSavepoint() throws Exception {
        Path dir = runs.resolve("20261127-120000");
        write(dir.resolve("checkpoints/job-a/chk-7/_metadata"), "m", 1_000);
        write(dir.resolve("checkpoints/job-b/chk-3/_metadata"), "m", 5_000);
        Files.createDirectories(dir.resolve("checkpoints/job-b/chk-4")); // being written when the process died
        write(dir.resolve("checkpoints/job-b/chk-5/_metadata"), "", 9_000); // empty metadata: incomplete
        write(dir.resolve("savepoints/savepoint-1a2b3c-0123456789ab/_metadata"), "m", 3_000);
        RunDirectory.pointLatestAt(runs, dir);

        RunDirectory.Prepared p = RunDirectory.prepare(conf("optune.embedded.resume", "latest"), NOW);
        assertThat(p.run().path()).isEqualTo(dir.toRealPath());
        assertThat(p.run().resumed()).isTrue();
        assertThat(p.resumePoint()).get().extracting(RunDirectory.ResumePoint::path)
                .isEqualTo(dir.toRealPath().resolve("checkpoints/job-b/chk-3"));
        assertThat(p.conf().get(StateRecoveryOptions.SAVEPOINT_PATH)).isEqualTo(dir.toRealPath().resolve("checkpoints/job-b/chk-3").toString());
        assertThat(p.conf().get(OptuneOptions.RUN_DIR)).isEqualTo(dir.toRealPath().toString());

        write(dir.resolve("savepoints/savepoint-4d5e6f-0123456789ab/_metadata"), "m", 7_000);
        assertThat(RunDirectory.prepare(conf("optune.embedded.resume", dir.toString()), NOW).resumePoint())
                .get().matches(RunDirectory.ResumePoint::savepoint);
    }

    @Test
    void resumeWithoutStateOrWithAnExplicitPathAsWellIsRefused() throws Exception {
        Path dir = runs.resolve("empty-run");
        write(dir.resolve("weights/manifest.json"), "{}", 1000);
        assertThatThrownBy(() -> RunDirectory.prepare(conf("optune.embedded.resume", dir.toString()), NOW))
                .hasMessageContaining("no complete retained checkpoint or savepoint");
        assertThatThrownBy(() -> RunDirectory.prepare(conf("optune.embedded.resume", runs.resolve("nope").toString()), NOW))
                .hasMessageContaining("does not exist");
        assertThatThrownBy(() -> RunDirectory.prepare(conf("optune.embedded.resume", dir.toString(),
                "execution.state-recovery.path", "/x"), NOW)).hasMessageContaining("not both");
    }

    @Test
    void unfinishedRunsAreThoseKilledFailedOrCancelledWithStateToResume() throws Exception {
        long deadPid = Long.MAX_VALUE - 1; // no such process
        long livePid = ProcessHandle.current().pid();
        String[][] runsAndStates = {
            {"killed", "RUNNING", String.valueOf(deadPid)}, {"live", "RUNNING", String.valueOf(livePid)},
            {"done", "FINISHED", String.valueOf(deadPid)}, {"failed", "FAILED", String.valueOf(deadPid)},
        };
        for (String[] r : runsAndStates) {
            Path d = runs.resolve(r[0]);
            Files.createDirectories(d);
            Files.writeString(d.resolve(RunDirectory.STATE_FILE), io.optune.engine.Json.write(new RunDirectory.State(
                    RunDirectory.Status.valueOf(r[1]), Long.parseLong(r[2]), 1, 0, List.of(), List.of(), null)));
            write(d.resolve("checkpoints/j/chk-1/_metadata"), "m", 1000);
        }
        Files.createDirectories(runs.resolve("no-checkpoint"));
        Files.writeString(runs.resolve("no-checkpoint").resolve(RunDirectory.STATE_FILE), io.optune.engine.Json.write(
                new RunDirectory.State(RunDirectory.Status.FAILED, deadPid, 1, 0, List.of(), List.of(), null)));
        assertThat(RunDirectory.unfinished(runs)).containsExactly(runs.resolve("failed"), runs.resolve("killed"));
    }

    @Test
    void inProgressPartsLeftByAKilledJobAreRemovedOnlyWhenOlderThanTheResumedJob() throws Exception {
        Path ledger = runs.resolve("r/ledger/2026-11-27--14");
        write(ledger.resolve("part-1f-0"), "{}", 1_000);
        write(ledger.resolve(".part-1f-1.inprogress.9c2d"), "{}", 1_000);
        write(ledger.resolve(".part-2a-0.inprogress.77aa"), "{}", 50_000); // the resumed job's own
        int removed = RunDirectory.removeSupersededInProgress(List.of(runs.resolve("r/ledger"), runs.resolve("r/missing")), 10_000);
        assertThat(removed).isEqualTo(1);
        try (var s = Files.list(ledger)) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("part-1f-0", ".part-2a-0.inprogress.77aa");
        }
    }
}
