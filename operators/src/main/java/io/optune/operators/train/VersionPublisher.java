package io.optune.operators.train;

import io.optune.engine.Json;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.VersionWriter;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.OperatorStateStore;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The trainer's side of the weight log: numbers policy versions and makes them visible, at once
 * ({@link Publication#IMMEDIATE}) or when the checkpoint that holds the trainer past them completes
 * ({@link Publication#ON_CHECKPOINT}, two-phase: staged in {@link #publish}, listed in operator state
 * at each snapshot, announced in {@link #commitStaged}).
 *
 * <p>Version numbers continue from the larger of the checkpointed counter and the newest version in
 * the log, so they stay unique and increasing even when a failure rolled the trainer back past
 * versions it had already announced. One instance per trainer subtask, built at state initialisation.
 */
final class VersionPublisher {
    private static final Logger LOG = LoggerFactory.getLogger(VersionPublisher.class);

    /** State names are part of the savepoint layout: never rename. */
    static final String VERSION_STATE = "next-policy-version";
    /** Versions staged but not yet announced, as announcement JSON. */
    static final String STAGED_STATE = "staged-policy-versions";

    static final int ATTEMPTS = 3;

    private final WeightLog weightLog;
    private final Publication publication;
    private final ListState<Long> versionState;
    private final ListState<String> stagedState;

    private long restoredVersion;
    /** Staged versions of the checkpoint this trainer was restored from: that checkpoint completed, so they are committed at open. */
    private final List<PolicyUpdate> restoredStaged = new ArrayList<>();
    private List<PolicyUpdate> committedAtOpen = List.of();
    /** Versions staged since the last snapshot, and those by the checkpoint that holds them. */
    private List<PolicyUpdate> stagedSinceSnapshot = new ArrayList<>();
    private final TreeMap<Long, List<PolicyUpdate>> stagedByCheckpoint = new TreeMap<>();

    private long nextVersion;
    private volatile long publishedVersion;
    /** Held-out reward of the newest announced version (NaN before one, or without a held-out set). */
    private Counter failures;

    /** What became of one publication. */
    record Outcome(boolean written, PolicyUpdate visibleNow) {
        static final Outcome FAILED = new Outcome(false, null);

        /** To emit downstream now: announced at once (not staged, not failed). */
        Optional<PolicyUpdate> toEmit() {
            return Optional.ofNullable(visibleNow);
        }
    }

    static VersionPublisher create(WeightLog weightLog, Publication publication, OperatorStateStore store, boolean restored)
            throws Exception {
        return new VersionPublisher(weightLog, publication, store.getListState(new ListStateDescriptor<>(VERSION_STATE, Types.LONG)),
                store.getListState(new ListStateDescriptor<>(STAGED_STATE, Types.STRING)), restored);
    }

    VersionPublisher(WeightLog weightLog, Publication publication, ListState<Long> versionState, ListState<String> stagedState,
            boolean restored) throws Exception {
        this.weightLog = weightLog;
        this.publication = publication;
        this.versionState = versionState;
        this.stagedState = stagedState;
        if (restored) {
            for (String json : stagedState.get()) {
                restoredStaged.add(Json.read(json, PolicyUpdate.class));
            }
            for (Long v : versionState.get()) {
                restoredVersion = Math.max(restoredVersion, v);
            }
        }
    }

    /**
     * Picks up where the log and the checkpoint left off; commits what the restored checkpoint staged
     * (kept for {@link #takeCommittedAtOpen}).
     */
    void open(MetricGroup metrics) throws IOException {
        failures = metrics.counter("weightPublishFailures");
        metrics.gauge("policyVersion", () -> publishedVersion);
        publishedVersion = weightLog.requireLatest().version();
        List<PolicyUpdate> committed = new ArrayList<>();
        for (PolicyUpdate u : restoredStaged) {
            PolicyUpdate announced = weightLog.commit(u);
            committed.add(announced);
            announced(announced);
            LOG.info("Published policy version {} at step {}, staged before the checkpoint this job was restored from",
                    announced.version(), announced.step());
        }
        restoredStaged.clear();
        committedAtOpen = committed;
        nextVersion = Math.max(restoredVersion, publishedVersion + 1);
    }

    /** The number the next publication gets. */
    long nextVersion() {
        return nextVersion;
    }

    long publishedVersion() {
        return publishedVersion;
    }

    /**
     * Writes {@code update} (numbered {@link #nextVersion()}) with {@code files}; announces it now or
     * stages it, by the publication mode. Retries I/O errors {@value #ATTEMPTS} times; when all fail the
     * outcome is {@link Outcome#FAILED} and the next publication retries under the same number, so
     * training never stops for the store.
     */
    Outcome publish(PolicyUpdate update, VersionWriter files) throws InterruptedException {
        long version = update.version();
        if (version != nextVersion) {
            throw new IllegalArgumentException("version " + version + " published where " + nextVersion + " is next");
        }
        boolean now = publication == Publication.IMMEDIATE;
        for (int attempt = 1; ; attempt++) {
            try {
                PolicyUpdate written = now ? weightLog.publish(update, files) : weightLog.stage(update, files);
                nextVersion = version + 1;
                LOG.info("{} policy version {} at step {}: loss {} margin {} log-ratio {} reward {} fresh {}%",
                        now ? "Published" : "Staged (visible once the next checkpoint completes)", version, written.step(),
                        fmt(written.loss()), fmt(written.margin()), fmt(written.logRatioMean()),
                        fmt(written.reward()), Math.round(100 * written.freshFraction()));
                if (!now) {
                    stagedSinceSnapshot.add(written);
                    return new Outcome(true, null);
                }
                announced(written);
                return new Outcome(true, written);
            } catch (IOException e) {
                failures.inc();
                if (announcedAlready(version)) {
                    // The announcement (the commit point) landed but a later step failed: do not reuse
                    // the number, or every following publication would collide with it.
                    LOG.warn("Policy version {} was committed despite an error ({}); continuing with {}", version,
                            e.getMessage(), version + 1);
                    nextVersion = version + 1;
                    publishedVersion = version;
                    return new Outcome(true, null);
                }
                if (attempt >= ATTEMPTS) {
                    LOG.error("Could not publish policy version {} after {} attempts; training continues", version, attempt, e);
                    return Outcome.FAILED;
                }
                LOG.warn("Publishing policy version {} failed (attempt {}): {}", version, attempt, e.getMessage());
                Thread.sleep(200L * attempt);
            }
        }
    }

    /** Lists the counter and every staged, unannounced version in operator state for checkpoint {@code checkpointId}. */
    void snapshotState(long checkpointId) throws Exception {
        versionState.update(List.of(nextVersion));
        if (!stagedSinceSnapshot.isEmpty()) {
            stagedByCheckpoint.put(checkpointId, stagedSinceSnapshot);
            stagedSinceSnapshot = new ArrayList<>();
        }
        List<String> staged = new ArrayList<>();
        for (List<PolicyUpdate> versions : stagedByCheckpoint.values()) {
            for (PolicyUpdate u : versions) {
                staged.add(Json.write(u));
            }
        }
        stagedState.update(staged);
    }

    /**
     * Announces, in order, the versions staged before checkpoint {@code checkpointId}, which has
     * completed, and returns them to be emitted. A version whose announcement fails stays staged, with
     * every later one, for the next completed checkpoint (committed in order or not at all).
     */
    List<PolicyUpdate> commitStaged(long checkpointId) {
        List<PolicyUpdate> announced = new ArrayList<>();
        var due = stagedByCheckpoint.headMap(checkpointId, true);
        while (!due.isEmpty()) {
            List<PolicyUpdate> versions = due.firstEntry().getValue();
            while (!versions.isEmpty()) {
                PolicyUpdate u = versions.get(0);
                try {
                    announced(weightLog.commit(u));
                } catch (IOException e) {
                    failures.inc();
                    LOG.warn("Could not announce policy version {} at checkpoint {} (retried at the next): {}", u.version(),
                            checkpointId, e.getMessage());
                    return announced;
                }
                versions.remove(0);
                announced.add(u);
                LOG.info("Published policy version {} at step {} (checkpoint {} complete, {} ms after it was staged)", u.version(),
                        u.step(), checkpointId, System.currentTimeMillis() - u.publishedAt());
            }
            due.pollFirstEntry();
        }
        return announced;
    }

    /** Versions committed while opening (staged by the checkpoint this job restored), once. */
    List<PolicyUpdate> takeCommittedAtOpen() {
        List<PolicyUpdate> out = committedAtOpen;
        committedAtOpen = List.of();
        return out;
    }

    private void announced(PolicyUpdate u) {
        publishedVersion = Math.max(publishedVersion, u.version());
    }

    private boolean announcedAlready(long version) {
        try {
            return weightLog.latest().map(u -> u.version() >= version).orElse(false);
        } catch (IOException e) {
            return false;
        }
    }

    private static String fmt(double v) {
        return String.format("%.3f", v);
    }
}
