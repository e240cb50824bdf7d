package io.optune.operators.generate;

import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.UntrustedVersionException;
import io.optune.operators.weights.VerifiedVersion;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.util.function.ThrowingRunnable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;

/**
 * The generator's policy versions: reads, verifies and loads them into its {@link PolicySampler}.
 * {@link #load} runs on the sampling thread (so a load never swaps the policy under a batch) and returns
 * what to report, to be run on the task thread. A version that fails its checks or cannot be read is
 * never loaded: generation goes on with the version in hand, and the failure is logged and counted.
 */
final class VersionLoader {
    private static final Logger LOG = LoggerFactory.getLogger(VersionLoader.class);

    private final WeightLog weightLog;
    private final PolicySampler sampler;
    private final GeneratorMetrics metrics;
    private final int subtask;

    VersionLoader(WeightLog weightLog, PolicySampler sampler, GeneratorMetrics metrics, int subtask) {
        this.weightLog = weightLog;
        this.sampler = sampler;
        this.metrics = metrics;
        this.subtask = subtask;
    }

    /** On open, before the sampling thread exists: the newest version in the log (a restart resumes with it). */
    void loadNewest() throws Exception {
        try (VerifiedVersion newest = weightLog.newestVerified(this::refused)) {
            sampler.load(newest);
            loaded(newest.update());
        }
    }

    /** On the sampling thread: loads an announced version if it is newer; the outcome is reported by what it returns. */
    ThrowingRunnable<Exception> load(PolicyUpdate update) {
        if (update.version() <= sampler.version()) {
            return () -> {};
        }
        try (VerifiedVersion v = weightLog.readVerified(update)) {
            sampler.load(v);
            long lag = System.currentTimeMillis() - update.publishedAt();
            return () -> {
                loaded(update);
                metrics.synced(lag);
            };
        } catch (UntrustedVersionException e) {
            return () -> refused(e);
        } catch (IOException e) {
            if (pruned(update)) {
                return () -> {
                    // This generator lagged a whole retention window behind: newer versions are on their way.
                    metrics.versionPruned();
                    LOG.info("Policy version {} was pruned from the weight log before it could be loaded; generating with "
                            + "version {} until a newer one arrives", update.version(), sampler.version());
                };
            }
            return () -> failed(update, e);
        } catch (Exception e) {
            return () -> failed(update, e);
        }
    }

    private void loaded(PolicyUpdate update) {
        metrics.versionLoaded();
        LOG.info("Generator {} now uses policy version {} (step {})", subtask, update.version(), update.step());
    }

    private boolean pruned(PolicyUpdate update) {
        try {
            return !weightLog.isRetained(update);
        } catch (IOException e) {
            return false;
        }
    }

    private void failed(PolicyUpdate update, Exception e) {
        metrics.loadFailed();
        LOG.error("Could not load policy version {} from {}; generating with version {}", update.version(),
                update.location(), sampler.version(), e);
    }

    private void refused(UntrustedVersionException e) {
        metrics.versionRefused();
        LOG.error("Refused a policy version: {}; generating with version {}", e.getMessage(), sampler.version());
    }
}
