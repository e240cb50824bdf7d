package io.optune.operators.generate;

import ai.djl.ndarray.NDManager;
import io.optune.engine.DeviceTurns;
import io.optune.engine.InvalidInputException;
import io.optune.engine.PromptEncoder;
import io.optune.engine.Rng;
import io.optune.engine.generate.Completion;
import io.optune.engine.generate.Generator;
import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.model.TransformerLM;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.faults.FaultInjection;
import io.optune.operators.records.Generation;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.SampledResponse;
import io.optune.operators.weights.UntrustedVersionException;
import io.optune.operators.weights.VerifiedVersion;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.api.common.accumulators.AverageAccumulator;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.accumulators.LongMaximum;
import org.apache.flink.api.common.accumulators.ListAccumulator;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Meter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.TwoInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.ProcessingTimeService;
import org.apache.flink.util.OutputTag;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Step 3, generate. Input 1: prompts selected for regeneration; input 2: the broadcast stream of
 * {@link PolicyUpdate}s. Requests are micro-batched (up to {@code maxBatch}, at most
 * {@code maxDelayMs} old) and sampled K times each with the current policy, KV-cached; every
 * {@link Generation} is stamped with the policy version that made it and carries the prompt ids fed
 * to the policy and each response's sampled ids and sampling log-probs, with its text decoded once.
 *
 * <p>On start the operator loads the newest version in the {@link WeightLog} (so a restart resumes
 * with the latest weights without waiting for an announcement); afterwards it loads every newer
 * announced version, verifying its checksum. A version that fails to load is logged and counted,
 * and generation continues with the current one. The pending micro-batch and the sampling RNG are
 * checkpointed.
 */
public class GenerateOperator extends AbstractStreamOperator<Generation>
        implements TwoInputStreamOperator<GenerationRequest, PolicyUpdate, Generation>, ProcessingTimeService.ProcessingTimeCallback {
    private static final long serialVersionUID = 1L;

    public static final OutputTag<DeadLetter> DEAD_LETTERS = new OutputTag<>("generate-dead-letters") {};

    /** State names are part of the savepoint layout; "-v2": requests carry token-id memory (layout 2 of StoredPair). */
    static final String BUFFER_STATE = "pending-requests-v2";
    static final String RNG_STATE = "sampling-rng";

    private final WeightLog weightLog;
    private final SamplingConfig sampling;
    private final int maxPromptTokens;
    private final int maxBatch;
    private final long maxDelayMs;
    private final long seed;
    /** Where the policy copy lives and samples ({@link io.optune.engine.EngineDevice}); cpu unless set. */
    private String device = "cpu";
    /** float16: each loaded version becomes a float16 inference copy (half the bytes per decoding step). */
    private io.optune.engine.model.Precision precision = io.optune.engine.model.Precision.FLOAT32;
    /** Take turns on the device with the trainer ({@link io.optune.engine.DeviceTurns}); off unless set. */
    private boolean colocated;

    private transient NDManager manager;
    private transient TransformerLM policy;
    private transient PromptEncoder encoder;
    private transient Generator generator;
    private transient long version;
    private transient List<GenerationRequest> buffer;
    private transient ListState<GenerationRequest> bufferState;
    private transient ListState<Long> rngState;
    private transient Rng rng;
    private transient long timerAt;
    private transient Meter tokensPerSecond;
    private transient Counter weightLoadFailures;
    private transient Counter weightVersionsPruned;
    private transient Counter weightVerificationFailures;
    private transient Histogram syncLag;
    private transient long lastSyncLag;
    private transient AverageAccumulator lagMean;
    private transient LongMaximum lagMax;
    private transient ListAccumulator<Long> lagSamples;
    private transient LongCounter tokensTotal;
    private transient LongCounter versionsLoaded;
    private transient LongCounter busyUs;
    private transient Counter deviceWaitMs;
    private transient Counter deferredFlushes;
    private transient LongCounter batches;
    private transient Histogram batchPrompts;

    /** Accumulator names (job-wide). */
    public static final String ACC_LAG_MEAN = "weightSyncLagMsMean";
    public static final String ACC_LAG_MAX = "weightSyncLagMsMax";
    public static final String ACC_VERSIONS_LOADED = "policyVersionsLoaded";
    /** Observed weight-sync lags in ms (one per version load, the first {@value #MAX_LAG_SAMPLES} per subtask), for percentiles. */
    public static final String ACC_LAG_SAMPLES = "weightSyncLagMsSamples";
    static final int MAX_LAG_SAMPLES = 4096;
    public static final String ACC_TOKENS = "generatedTokens";
    /** Microseconds spent sampling, job-wide: the generators' compute (waits for a turn excluded). */
    public static final String ACC_BUSY_US = "generatorBusyUs";
    /** Micro-batches sampled, job-wide (prompts per batch = prompts sampled / batches: what sampling costs per token). */
    public static final String ACC_BATCHES = "generatorBatches";
    /** Colocated: how often a partial batch looks again for an idle device. */
    static final long DEFER_RETRY_MS = 5;

    public GenerateOperator(WeightLog weightLog, SamplingConfig sampling, int maxPromptTokens, int maxBatch, long maxDelayMs, long seed) {
        if (maxBatch < 1 || maxDelayMs < 0) {
            throw new IllegalArgumentException("maxBatch >= 1 and maxDelayMs >= 0 required");
        }
        this.weightLog = weightLog;
        this.sampling = sampling;
        this.maxPromptTokens = maxPromptTokens;
        this.maxBatch = maxBatch;
        this.maxDelayMs = maxDelayMs;
        this.seed = seed;
    }

    /** Runs this generator on {@code device} (cpu, gpu, gpu:N); checked for form now, for a GPU at open. */
    public GenerateOperator onDevice(String device) {
        this.device = io.optune.engine.EngineDevice.checkSpec(device);
        return this;
    }

    /**
     * Takes turns on the device with the trainer of this process ({@code optune.engine.colocate}):
     * each sampling micro-batch waits until no DPO step runs on the same device. A full micro-batch
     * waits for its turn; a partial one (its max delay reached) is sampled only when the device is idle
     * and otherwise keeps growing, so generation runs in full batches while the trainer is busy.
     */
    public GenerateOperator colocated(boolean colocated) {
        this.colocated = colocated;
        return this;
    }

    /** Decodes in {@code precision} ({@link io.optune.engine.model.Precision}); float32 unless set. */
    public GenerateOperator withPrecision(io.optune.engine.model.Precision precision) {
        this.precision = java.util.Objects.requireNonNull(precision, "precision");
        return this;
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        bufferState = context.getOperatorStateStore().getListState(
                new ListStateDescriptor<>(BUFFER_STATE, TypeInformation.of(GenerationRequest.class)));
        rngState = context.getOperatorStateStore().getListState(new ListStateDescriptor<>(RNG_STATE, Types.LONG));
        buffer = new ArrayList<>();
        rng = Rng.derive(seed, 1000 + getRuntimeContext().getTaskInfo().getIndexOfThisSubtask());
        if (context.isRestored()) {
            for (GenerationRequest r : bufferState.get()) {
                buffer.add(r);
            }
            for (Long s : rngState.get()) {
                rng.setState(s);
            }
        }
    }

    @Override
    public void open() throws Exception {
        super.open();
        var group = getMetricGroup();
        tokensPerSecond = group.meter("generatedTokensPerSecond", new MeterView(10));
        weightLoadFailures = group.counter("weightLoadFailures");
        weightVersionsPruned = group.counter("weightVersionsPruned");
        weightVerificationFailures = group.counter("weightVerificationFailures");
        syncLag = group.histogram("weightSyncLagMs", new DescriptiveStatisticsHistogram(500));
        group.gauge("policyVersion", () -> version);
        getRuntimeContext().addAccumulator(ACC_LAG_MEAN, lagMean = new AverageAccumulator());
        getRuntimeContext().addAccumulator(ACC_LAG_MAX, lagMax = new LongMaximum());
        getRuntimeContext().addAccumulator(ACC_LAG_SAMPLES, lagSamples = new ListAccumulator<>());
        getRuntimeContext().addAccumulator(ACC_TOKENS, tokensTotal = new LongCounter());
        getRuntimeContext().addAccumulator(ACC_VERSIONS_LOADED, versionsLoaded = new LongCounter());
        getRuntimeContext().addAccumulator(ACC_BUSY_US, busyUs = new LongCounter());
        deviceWaitMs = group.counter("deviceWaitMs");
        deferredFlushes = group.counter("deferredFlushes");
        getRuntimeContext().addAccumulator(ACC_BATCHES, batches = new LongCounter());
        batchPrompts = group.histogram("microBatchPrompts", new DescriptiveStatisticsHistogram(500));
        group.gauge("lastWeightSyncLagMs", () -> lastSyncLag);
        manager = NDManager.newBaseManager(io.optune.engine.EngineDevice.parse(device));
        version = -1;
        timerAt = -1;
        try (VerifiedVersion newest = weightLog.newestVerified(this::refused)) {
            load(newest);
        }
        if (!buffer.isEmpty()) {
            scheduleFlush();
        }
    }

    @Override
    public void processElement1(StreamRecord<GenerationRequest> element) throws Exception {
        buffer.add(element.getValue());
        if (buffer.size() >= maxBatch) {
            flush();
        } else {
            scheduleFlush();
        }
    }

    @Override
    public void processElement2(StreamRecord<PolicyUpdate> element) {
        PolicyUpdate update = element.getValue();
        if (update.version() > version) {
            try {
                try (VerifiedVersion v = weightLog.readVerified(update)) {
                    load(v);
                }
                long lag = System.currentTimeMillis() - update.publishedAt();
                lastSyncLag = lag;
                syncLag.update(lag);
                lagMean.add(lag);
                lagMax.add(lag);
                if (lagSamples.getLocalValue().size() < MAX_LAG_SAMPLES) { // bounded: it travels to the JobManager
                    lagSamples.add(lag);
                }
            } catch (UntrustedVersionException e) {
                refused(e);
            } catch (IOException e) {
                if (pruned(update)) {
                    // This generator lagged a whole retention window behind: newer versions are on their way.
                    weightVersionsPruned.inc();
                    LOG.info("Policy version {} was pruned from the weight log before it could be loaded; generating with "
                            + "version {} until a newer one arrives", update.version(), version);
                } else {
                    weightLoadFailed(update, e);
                }
            } catch (Exception e) {
                weightLoadFailed(update, e);
            }
        }
    }

    private boolean pruned(PolicyUpdate update) {
        try {
            return !weightLog.isRetained(update);
        } catch (IOException e) {
            return false;
        }
    }

    private void weightLoadFailed(PolicyUpdate update, Exception e) {
        weightLoadFailures.inc();
        LOG.error("Could not load policy version {} from {}; generating with version {}", update.version(),
                update.location(), version, e);
    }

    @Override
    public void onProcessingTime(long time) throws Exception {
        timerAt = -1;
        if (colocated && !buffer.isEmpty() && buffer.size() < maxBatch) {
            // Colocated, a partial batch is sampled only on an idle device: while the trainer holds it, the
            // batch keeps growing (the task thread stays free to take requests) until it is full.
            DeviceTurns.Turn idle = DeviceTurns.tryTake(device);
            if (idle == null) {
                deferredFlushes.inc();
                scheduleFlush(DEFER_RETRY_MS);
                return;
            }
            flush(idle);
        } else {
            flush();
        }
    }

    private void scheduleFlush() {
        scheduleFlush(maxDelayMs);
    }

    private void scheduleFlush(long delayMs) {
        if (timerAt < 0) {
            ProcessingTimeService pts = getProcessingTimeService();
            timerAt = pts.getCurrentProcessingTime() + delayMs;
            pts.registerTimer(timerAt, this);
        }
    }

    /** A version that failed its checks is never loaded; generation goes on with the version in hand. */
    private void refused(UntrustedVersionException e) {
        weightVerificationFailures.inc();
        LOG.error("Refused a policy version: {}; generating with version {}", e.getMessage(), version);
    }

    private void load(VerifiedVersion v) throws Exception {
        PolicyUpdate update = v.update();
        PolicyDirectory.Loaded loaded = PolicyDirectory.load(v.dir(), manager);
        if (policy != null && !policy.config().equals(loaded.model().config())) {
            loaded.model().close();
            throw new IllegalArgumentException("policy version " + update.version() + " is for model " + loaded.model().config()
                    + ", the generator runs " + policy.config());
        }
        int context = loaded.model().config().contextLength();
        if (maxPromptTokens + sampling.maxNewTokens() > context) {
            loaded.model().close();
            throw new IllegalArgumentException("max prompt tokens (" + maxPromptTokens + ") + max new tokens ("
                    + sampling.maxNewTokens() + ") exceed the policy's context of " + context);
        }
        loaded.model().storeForInference(precision);
        TransformerLM old = policy;
        policy = loaded.model();
        encoder = new PromptEncoder(loaded.tokenizer(), maxPromptTokens);
        generator = new Generator(policy, loaded.tokenizer()); // stops at any of its EOS ids
        version = update.version();
        versionsLoaded.add(1L);
        if (old != null) {
            old.close();
        }
        LOG.info("Generator {} now uses policy version {} (step {})",
                getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(), version, update.step());
    }

    private void flush() throws InterruptedException {
        flush(null);
    }

    /**
     * Samples the buffered requests; {@code held}: a turn on the device already taken (else one is
     * taken here). The turn covers the sampling only, not the emission downstream; it is released on
     * every path.
     */
    private void flush(DeviceTurns.Turn held) throws InterruptedException {
        try {
            sample(held);
        } finally {
            if (held != null) {
                held.close(); // idempotent: sample() releases it right after sampling
            }
        }
    }

    private void sample(DeviceTurns.Turn held) throws InterruptedException {
        if (buffer.isEmpty()) {
            return;
        }
        List<GenerationRequest> batch = new ArrayList<>(buffer);
        buffer.clear();
        List<GenerationRequest> accepted = new ArrayList<>(batch.size());
        List<int[]> prompts = new ArrayList<>(batch.size());
        for (GenerationRequest r : batch) {
            try {
                prompts.add(encoder.encode(r.prompt().text(), r.prompt().messages()));
                accepted.add(r);
            } catch (InvalidInputException e) {
                output.collect(DEAD_LETTERS, new StreamRecord<>(DeadLetter.of(r.prompt(), "generate", e.reason(), e.getMessage())));
            }
        }
        if (accepted.isEmpty()) {
            return;
        }
        List<Completion> completions;
        try (DeviceTurns.Turn turn = held != null ? held : DeviceTurns.take(device, colocated)) {
            deviceWaitMs.inc(turn.waitedMs());
            long start = System.nanoTime();
            completions = generator.generate(manager, prompts, sampling, rng);
            busyUs.add((System.nanoTime() - start) / 1_000);
            batches.add(1L);
            batchPrompts.update(prompts.size());
        } catch (RuntimeException e) {
            // A replay would fail the same way (same RNG, same policy): dead-letter instead of looping.
            LOG.error("Generation with policy version {} failed for {} prompts", version, accepted.size(), e);
            for (GenerationRequest r : accepted) {
                output.collect(DEAD_LETTERS, new StreamRecord<>(DeadLetter.of(r.prompt(), "generate", "generation-failed",
                        String.valueOf(e.getMessage()))));
            }
            return;
        }
        FaultInjection.check(FaultInjection.Point.GENERATE);
        int k = sampling.samplesPerPrompt();
        for (int i = 0; i < accepted.size(); i++) {
            SampledResponse[] responses = new SampledResponse[k];
            int tokens = 0;
            for (int s = 0; s < k; s++) {
                Completion c = completions.get(i * k + s);
                // Decoded once, here: the ids travel on to training, the text to the reward model and the audit.
                responses[s] = new SampledResponse(c.tokens(), c.logProbs(), !c.finished(), encoder.tokenizer().decode(c.tokens()));
                tokens += c.tokens().length;
            }
            tokensPerSecond.markEvent(tokens);
            tokensTotal.add(tokens);
            output.collect(new StreamRecord<>(new Generation(accepted.get(i), prompts.get(i), responses, version, tokens)));
        }
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        bufferState.update(buffer);
        rngState.update(List.of(rng.state()));
    }

    @Override
    public void finish() throws Exception {
        flush();
        super.finish();
    }

    @Override
    public void close() throws Exception {
        try {
            if (manager != null) {
                manager.close();
            }
        } finally {
            super.close();
        }
    }
}
