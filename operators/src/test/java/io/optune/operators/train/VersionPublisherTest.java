package io.optune.operators.train;

import io.optune.operators.OperatorTestSupport;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.InMemoryWeightLog;
import io.optune.operators.weights.VersionWriter;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Numbering and visibility of versions, against a log that fails on cue (the trainer's harness tests cover the operator). */
class VersionPublisherTest {
    /** The publisher never reads a version's files: any content will do. */
    private static final VersionWriter FILES = dir -> {
        try (java.io.OutputStream out = dir.create("model.safetensors")) {
            out.write(new byte[] {1, 2, 3});
        }
    };

    /** Operator list state in memory: what a checkpoint would hold. */
    static final class Listed<T> implements ListState<T> {
        final List<T> values = new ArrayList<>();

        @Override
        public Iterable<T> get() {
            return new ArrayList<>(values);
        }

        @Override
        public void add(T value) {
            values.add(value);
        }

        @Override
        public void update(List<T> v) {
            values.clear();
            values.addAll(v);
        }

        @Override
        public void addAll(List<T> v) {
            values.addAll(v);
        }

        @Override
        public void clear() {
            values.clear();
        }
    }

    /** The in-memory log, with stage and commit failing a given number of times, or a commit that lands and then reports an error. */
    static final class FlakyLog implements WeightLog {
        final InMemoryWeightLog log;
        int failStages;
        int failCommits;
        boolean failAfterCommit;

        FlakyLog(InMemoryWeightLog log) {
            this.log = log;
        }

        @Override
        public PolicyUpdate stage(PolicyUpdate update, VersionWriter files) throws IOException {
            if (failStages > 0) {
                failStages--;
                throw new IOException("store unavailable");
            }
            return log.stage(update, files);
        }

        @Override
        public PolicyUpdate commit(PolicyUpdate staged) throws IOException {
            if (failCommits > 0) {
                failCommits--;
                throw new IOException("announcement failed");
            }
            PolicyUpdate u = log.commit(staged);
            if (failAfterCommit) {
                failAfterCommit = false;
                throw new IOException("connection reset after the announcement was written");
            }
            return u;
        }

        @Override
        public InputStream open(String location, String name) throws IOException {
            return log.open(location, name);
        }

        @Override
        public List<PolicyUpdate> versions() {
            return log.versions();
        }
    }

    private final Listed<Long> counter = new Listed<>();
    private final Listed<String> staged = new Listed<>();

    private VersionPublisher publisher(WeightLog log, Publication mode, boolean restored) throws Exception {
        VersionPublisher p = new VersionPublisher(log, mode, counter, staged, restored);
        p.open(new UnregisteredMetricsGroup());
        return p;
    }

    private static PolicyUpdate update(VersionPublisher p, long step) {
        return new PolicyUpdate(p.nextVersion(), step, null, null, System.currentTimeMillis(), 0, 0, 0, 0, 0, Double.NaN);
    }

    private static List<Long> visible(WeightLog log) throws IOException {
        return log.versions().stream().map(PolicyUpdate::version).toList();
    }

    @Test
    void aPublicationThatFailsEveryAttemptKeepsItsNumberForTheNext() throws Exception {
        FlakyLog log = new FlakyLog(OperatorTestSupport.logWithPolicy(0, 3));
        VersionPublisher p = publisher(log, Publication.IMMEDIATE, false);
        log.failStages = VersionPublisher.ATTEMPTS;
        VersionPublisher.Outcome failed = p.publish(update(p, 2), FILES);
        assertThat(failed.written()).isFalse();
        assertThat(failed.toEmit()).isEmpty();
        assertThat(p.nextVersion()).isEqualTo(1);

        log.failStages = VersionPublisher.ATTEMPTS - 1; // the last attempt succeeds
        VersionPublisher.Outcome ok = p.publish(update(p, 4), FILES);
        assertThat(ok.toEmit()).get().extracting(PolicyUpdate::version, PolicyUpdate::step).containsExactly(1L, 4L);
        assertThat(visible(log)).containsExactly(0L, 1L);
        assertThat(p.nextVersion()).isEqualTo(2);
    }

    @Test
    void anAnnouncementThatLandedDespiteAnErrorIsNotNumberedAgain() throws Exception {
        FlakyLog log = new FlakyLog(OperatorTestSupport.logWithPolicy(0, 3));
        VersionPublisher p = publisher(log, Publication.IMMEDIATE, false);
        log.failAfterCommit = true;
        VersionPublisher.Outcome o = p.publish(update(p, 2), FILES);
        // Written (the window of metrics starts over), not emitted: the log holds it, the next number moves on.
        assertThat(o.written()).isTrue();
        assertThat(o.toEmit()).isEmpty();
        assertThat(p.publishedVersion()).isEqualTo(1);
        assertThat(p.publish(update(p, 4), FILES).toEmit()).get().extracting(PolicyUpdate::version).isEqualTo(2L);
        assertThat(visible(log)).containsExactly(0L, 1L, 2L);
    }

    @Test
    void stagedVersionsAreAnnouncedInOrderWhenTheirCheckpointCompletesOrNotAtAll() throws Exception {
        FlakyLog log = new FlakyLog(OperatorTestSupport.logWithPolicy(0, 3));
        VersionPublisher p = publisher(log, Publication.ON_CHECKPOINT, false);
        assertThat(p.publish(update(p, 2), FILES).toEmit()).isEmpty();
        p.snapshotState(1);
        p.publish(update(p, 4), FILES);
        p.snapshotState(2);
        p.publish(update(p, 6), FILES); // after checkpoint 2: belongs to checkpoint 3
        assertThat(visible(log)).containsExactly(0L);
        assertThat(staged.values).hasSize(2);

        log.failCommits = 1;
        assertThat(p.commitStaged(2)).isEmpty(); // version 1 failed: version 2 must wait too
        assertThat(visible(log)).containsExactly(0L);
        assertThat(p.commitStaged(2)).extracting(PolicyUpdate::version).containsExactly(1L, 2L); // retried at the next notification
        assertThat(visible(log)).containsExactly(0L, 1L, 2L);
        assertThat(p.publishedVersion()).isEqualTo(2);

        p.snapshotState(3);
        assertThat(counter.values).containsExactly(4L);
        assertThat(staged.values).hasSize(1); // only version 3 is still unannounced
    }

    @Test
    void aRestoreCommitsWhatItsCheckpointStagedAndContinuesItsNumbers() throws Exception {
        FlakyLog log = new FlakyLog(OperatorTestSupport.logWithPolicy(0, 3));
        VersionPublisher before = publisher(log, Publication.ON_CHECKPOINT, false);
        before.publish(update(before, 2), FILES);
        before.publish(update(before, 4), FILES);
        before.snapshotState(7); // the checkpoint completes, then the job fails before the notification
        before.publish(update(before, 6), FILES); // staged after it: lost with the failure

        VersionPublisher after = publisher(log, Publication.ON_CHECKPOINT, true);
        assertThat(after.takeCommittedAtOpen()).extracting(PolicyUpdate::version).containsExactly(1L, 2L);
        assertThat(after.takeCommittedAtOpen()).isEmpty();
        assertThat(visible(log)).containsExactly(0L, 1L, 2L);
        // Version 3 was never visible: the restored trainer writes it again, under the same number.
        assertThat(after.nextVersion()).isEqualTo(3);
        after.publish(update(after, 6), FILES);
        after.snapshotState(8);
        assertThat(after.commitStaged(8)).extracting(PolicyUpdate::version).containsExactly(3L);
    }
}
