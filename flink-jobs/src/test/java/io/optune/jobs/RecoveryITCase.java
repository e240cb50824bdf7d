package io.optune.jobs;

import io.optune.operators.records.PolicyUpdate;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The whole loop recovers from a task failure: a fault injected in the prompt stream after the first
 * checkpoints restarts every operator from the last checkpoint (RocksDB keyed state, the trainer,
 * the generators' buffers, both feedback sources), and training continues.
 */
class RecoveryITCase {
    static final AtomicLong SEEN = new AtomicLong();
    static final AtomicBoolean FAILED = new AtomicBoolean();

    /** Throws once, when the 4000th prompt record passes (about 16 s into the job). */
    static final class FailOnce implements MapFunction<String, String> {
        @Override
        public String map(String value) {
            if (SEEN.incrementAndGet() == 4000 && FAILED.compareAndSet(false, true)) {
                throw new RuntimeException("injected failure");
            }
            return value;
        }
    }

    @TempDir
    Path dir;

    @Test
    void theLoopResumesFromACheckpointAfterAFailureWithUniqueIncreasingVersions() throws Exception {
        SEEN.set(0);
        FAILED.set(false);
        EmbeddedMain.Summary s = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run"),
            "--optune.embedded.duration", "45s",
            "--optune.embedded.sft-steps", "300",
            "--optune.embedded.progress-interval", "10s",
            "--optune.train.held-out-size", "64",
            "--optune.train.publish-every", "10"), io -> io.withPrompts(io.prompts().map(new FailOnce()).returns(Types.STRING).name("inject-failure")));

        assertThat(FAILED).isTrue();
        List<PolicyUpdate> versions = s.versions();
        assertThat(versions.size()).isGreaterThan(4);
        // unique and gap-free across the restart; every version loads and verifies against its checksum
        WeightLogs.assertGapFreeAndLoadable(versions, s.weightLog());
        // After the restart the trainer continued from its checkpointed step: had it started over,
        // a second version would carry step 10.
        assertThat(versions).filteredOn(v -> v.step() == 10).hasSize(1);
        assertThat(s.savepoint()).isNotNull();
    }
}
