package io.optune.operators.generate;

import io.optune.operators.metrics.NewestValues;
import io.optune.operators.records.Generation;
import org.apache.flink.api.common.accumulators.AverageAccumulator;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.accumulators.LongMaximum;
import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Meter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;

import java.util.function.IntSupplier;
import java.util.function.LongSupplier;

/**
 * What the generate step reports: Flink metrics (live, per subtask) and accumulators (job-wide, read
 * by the embedded runner's summary). One place for their names; the operator only says what happened.
 * Task thread only.
 */
public final class GeneratorMetrics {
    /** Accumulator names (job-wide). */
    public static final String ACC_LAG_MEAN = "weightSyncLagMsMean";
    public static final String ACC_LAG_MAX = "weightSyncLagMsMax";
    public static final String ACC_VERSIONS_LOADED = "policyVersionsLoaded";
    /** Observed weight-sync lags in ms (one per version load, the newest {@value #MAX_LAG_SAMPLES} per subtask), for percentiles. */
    public static final String ACC_LAG_SAMPLES = "weightSyncLagMsSamples";
    static final int MAX_LAG_SAMPLES = 4096;
    public static final String ACC_TOKENS = "generatedTokens";
    /** Microseconds spent sampling, job-wide: the generators' compute (waits for a turn excluded). */
    public static final String ACC_BUSY_US = "generatorBusyUs";
    /** Micro-batches sampled, job-wide (prompts per batch = prompts sampled / batches: what sampling costs per token). */
    public static final String ACC_BATCHES = "generatorBatches";

    private final Meter tokensPerSecond;
    private final Counter weightLoadFailures;
    private final Counter weightVersionsPruned;
    private final Counter weightVerificationFailures;
    private final Histogram syncLag;
    private final AverageAccumulator lagMean = new AverageAccumulator();
    private final LongMaximum lagMax = new LongMaximum();
    private final NewestValues<Long> lagSamples = new NewestValues<>(MAX_LAG_SAMPLES);
    private final LongCounter tokensTotal = new LongCounter();
    private final LongCounter versionsLoaded = new LongCounter();
    private final LongCounter busyUs = new LongCounter();
    private final LongCounter batches = new LongCounter();
    private final Counter deviceWaitMs;
    private final Counter deferredFlushes;
    private final Histogram batchPrompts;
    private volatile long lastSyncLag;

    /** Registers everything; the gauges read the operator's policy version and queue lengths. */
    GeneratorMetrics(MetricGroup group, RuntimeContext context, LongSupplier policyVersion, IntSupplier promptsSampling,
            IntSupplier promptsBuffered) {
        tokensPerSecond = group.meter("generatedTokensPerSecond", new MeterView(10));
        weightLoadFailures = group.counter("weightLoadFailures");
        weightVersionsPruned = group.counter("weightVersionsPruned");
        weightVerificationFailures = group.counter("weightVerificationFailures");
        syncLag = group.histogram("weightSyncLagMs", new DescriptiveStatisticsHistogram(500));
        deviceWaitMs = group.counter("deviceWaitMs");
        deferredFlushes = group.counter("deferredFlushes");
        batchPrompts = group.histogram("microBatchPrompts", new DescriptiveStatisticsHistogram(500));
        group.gauge("lastWeightSyncLagMs", () -> lastSyncLag);
        group.gauge("policyVersion", policyVersion::getAsLong);
        group.gauge("promptsSampling", promptsSampling::getAsInt);
        group.gauge("promptsBuffered", promptsBuffered::getAsInt);
        context.addAccumulator(ACC_LAG_MEAN, lagMean);
        context.addAccumulator(ACC_LAG_MAX, lagMax);
        context.addAccumulator(ACC_LAG_SAMPLES, lagSamples);
        context.addAccumulator(ACC_TOKENS, tokensTotal);
        context.addAccumulator(ACC_VERSIONS_LOADED, versionsLoaded);
        context.addAccumulator(ACC_BUSY_US, busyUs);
        context.addAccumulator(ACC_BATCHES, batches);
    }

    void versionLoaded() {
        versionsLoaded.add(1L);
    }

    /** An announced version is in use {@code lagMs} after it was published. */
    void synced(long lagMs) {
        lastSyncLag = lagMs;
        syncLag.update(lagMs);
        lagMean.add(lagMs);
        lagMax.add(lagMs);
        lagSamples.add(lagMs);
    }

    void loadFailed() {
        weightLoadFailures.inc();
    }

    void versionPruned() {
        weightVersionsPruned.inc();
    }

    void versionRefused() {
        weightVerificationFailures.inc();
    }

    void deferred() {
        deferredFlushes.inc();
    }

    void sampled(PolicySampler.Sampled s) {
        if (s.prompts() > 0) {
            deviceWaitMs.inc(s.waitedMs());
            busyUs.add(s.busyUs());
            batches.add(1L);
            batchPrompts.update(s.prompts());
            tokensTotal.add(s.tokens());
        }
    }

    void emitted(Generation g) {
        tokensPerSecond.markEvent(g.tokens());
    }
}
