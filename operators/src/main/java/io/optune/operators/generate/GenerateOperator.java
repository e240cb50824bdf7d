package io.optune.operators.generate;

import io.optune.engine.Rng;
import io.optune.engine.generate.SamplingConfig;
import io.optune.operators.faults.FaultInjection;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.Generation;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.CheckpointOptions;
import org.apache.flink.runtime.checkpoint.SavepointType;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OperatorSnapshotFutures;
import org.apache.flink.streaming.api.operators.TwoInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.ProcessingTimeService;
import org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailbox;
import org.apache.flink.util.OutputTag;
import org.apache.flink.util.function.ThrowingRunnable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Step 3, generate. Input 1: prompts selected for regeneration; input 2: the broadcast stream of
 * {@link PolicyUpdate}s. Requests are micro-batched (up to {@code maxBatch}, at most
 * {@code maxDelayMs} old) and sampled K times each with the current policy, KV-cached; every
 * {@link Generation} is stamped with the policy version that made it and carries the prompt ids fed
 * to the policy and each response's sampled ids and sampling log-probs, with its text decoded once.
 *
 * <p>Sampling and version loads run on a thread of the operator's own ({@link PolicySampler}, one
 * at a time, in arrival order); results come back to the task thread as mailbox mails and are
 * emitted there, one generation per mail. So the task thread stays free for checkpoint barriers,
 * timers and the next requests while a batch samples, and a barrier waits for at most one emission
 * (which a chained async score step may hold while it waits for capacity), not for a batch. One
 * batch samples while the next fills; when that one is full too the task thread waits
 * (back-pressure), still running mails, checkpoints included. A checkpoint stores the generations
 * sampled but not emitted as they are, the requests of the batch being sampled with the buffered
 * ones, and the RNG as it was before that batch, so a restore emits the former and samples the
 * latter again, the same way on the same policy. From a stop-with-savepoint's barrier on, nothing is
 * sampled or emitted: that savepoint holds it.
 *
 * <p>On start the operator loads the newest version in the {@link WeightLog} (so a restart resumes
 * with the latest weights without waiting for an announcement); afterwards it loads every newer
 * announced version, verifying its checksum, on the sampling thread ({@link VersionLoader}). A version
 * that fails to load is logged and counted, and generation continues with the current one. What the
 * step reports is in {@link GeneratorMetrics}.
 */
public class GenerateOperator extends AbstractStreamOperator<Generation>
        implements TwoInputStreamOperator<GenerationRequest, PolicyUpdate, Generation>, ProcessingTimeService.ProcessingTimeCallback {
    /** Under this class's name (the inherited one is Flink's operator logger, filtered with Flink's). */
    private static final Logger LOG = LoggerFactory.getLogger(GenerateOperator.class);
    private static final long serialVersionUID = 1L;

    public static final OutputTag<DeadLetter> DEAD_LETTERS = new OutputTag<>("generate-dead-letters") {};

    /** State names are part of the savepoint layout; "-v2": requests carry token-id memory (layout 2 of StoredPair). */
    static final String BUFFER_STATE = "pending-requests-v2";
    static final String RNG_STATE = "sampling-rng";
    /** Generations sampled but not yet emitted: a checkpoint keeps them as they are. */
    static final String EMIT_STATE = "sampled-generations";

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

    private transient PolicySampler sampler;
    /** The sampling thread: sampling and version loads, one at a time, in submission order. */
    private transient ExecutorService engine;
    /** Runs results on the task thread; lowest priority, so waiting on it also lets checkpoints through. */
    private transient MailboxExecutor mailbox;
    /** Work handed to the sampling thread whose result the task thread has not handled yet. */
    private transient int engineTasks;
    private transient List<GenerationRequest> buffer;
    /** The batch being sampled (null when none). */
    private transient List<GenerationRequest> inFlight;
    /** Processing time at which the buffered batch is due, its oldest request {@code maxDelayMs} old. */
    private transient long bufferDueAt;
    private transient ListState<GenerationRequest> bufferState;
    private transient ListState<Long> rngState;
    private transient ListState<Generation> emitState;
    /** Sampled, not yet emitted: one per mail, so barriers and other mails get in between (see {@link #emitNext}). */
    private transient java.util.ArrayDeque<Generation> toEmit;
    private transient boolean emitting;
    private transient Rng rng;
    /** The RNG after the last sampled batch (before the one in flight, if any): what a restore samples with. */
    private transient long rngAfterLastBatch;
    /** The newest version handed to the sampling thread (older announcements are ignored). */
    private transient long requestedVersion;
    private transient long timerAt;
    /**
     * The stop-with-savepoint this task ends after (-1: none). From its barrier on nothing is emitted
     * or sampled: the savepoint holds it all, and after it the task only drains its mailbox, where an
     * emission could neither queue the next one nor wait for a chained async step (see {@link #emitNext}).
     */
    private transient long stoppingAt;
    /** Results that came back while stopping; run if that savepoint is aborted and the task goes on. */
    private transient List<ThrowingRunnable<Exception>> heldResults;
    private transient GeneratorMetrics metrics;
    private transient VersionLoader versions;

    /** Colocated: how often a partial batch looks again for an idle device. */
    static final long DEFER_RETRY_MS = 5;
    /** How long closing waits on the task thread for a batch still sampling (then a daemon thread waits). */
    private static final long CLOSE_WAIT_S = 10;

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
        emitState = context.getOperatorStateStore().getListState(
                new ListStateDescriptor<>(EMIT_STATE, TypeInformation.of(Generation.class)));
        buffer = new ArrayList<>();
        toEmit = new java.util.ArrayDeque<>();
        rng = Rng.derive(seed, 1000 + getRuntimeContext().getTaskInfo().getIndexOfThisSubtask());
        if (context.isRestored()) {
            for (GenerationRequest r : bufferState.get()) {
                buffer.add(r);
            }
            for (Long s : rngState.get()) {
                rng.setState(s);
            }
            for (Generation g : emitState.get()) {
                toEmit.add(g);
            }
        }
        rngAfterLastBatch = rng.state();
        stoppingAt = -1;
        heldResults = new ArrayList<>();
    }

    @Override
    public void open() throws Exception {
        super.open();
        sampler = new PolicySampler(sampling, maxPromptTokens, device, precision, colocated, rng);
        metrics = new GeneratorMetrics(getMetricGroup(), getRuntimeContext(), sampler::version,
                () -> inFlight == null ? 0 : inFlight.size(), () -> buffer.size());
        versions = new VersionLoader(weightLog, sampler, metrics, getRuntimeContext().getTaskInfo().getIndexOfThisSubtask());
        timerAt = -1;
        versions.loadNewest(); // before the sampling thread exists: it starts with a policy
        requestedVersion = sampler.version();
        mailbox = getContainingTask().getMailboxExecutorFactory().createExecutor(TaskMailbox.MIN_PRIORITY);
        int subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
        engine = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "generate-" + subtask + "-sampling");
            t.setDaemon(true);
            return t;
        });
        if (!buffer.isEmpty()) {
            bufferDueAt = getProcessingTimeService().getCurrentProcessingTime(); // restored: due now
            scheduleFlush(bufferDueAt);
        }
        startEmitting(); // generations a checkpoint held, as they were sampled
    }

    @Override
    public void processElement1(StreamRecord<GenerationRequest> element) throws Exception {
        if (buffer.isEmpty()) {
            bufferDueAt = getProcessingTimeService().getCurrentProcessingTime() + maxDelayMs;
        }
        buffer.add(element.getValue());
        while (buffer.size() >= maxBatch && !stopping()) {
            if (canSubmit()) {
                submit(false);
            } else {
                // One batch samples and the next is full: wait for the first. Mails (its result, timers,
                // checkpoint barriers) run meanwhile; new requests stay upstream (back-pressure).
                mailbox.yield();
            }
        }
        if (!buffer.isEmpty()) {
            scheduleFlush(bufferDueAt);
        }
    }

    @Override
    public void processElement2(StreamRecord<PolicyUpdate> element) {
        PolicyUpdate update = element.getValue();
        if (update.version() <= requestedVersion) {
            return;
        }
        requestedVersion = update.version();
        onEngine(() -> versions.load(update));
    }

    @Override
    public void onProcessingTime(long time) throws Exception {
        timerAt = -1;
        if (buffer.isEmpty() || !canSubmit() || stopping()) {
            return; // the batch in flight (or the emission) looks at the buffer when it is done
        }
        if (time < bufferDueAt) {
            scheduleFlush(bufferDueAt);
            return;
        }
        // Colocated, a partial batch is sampled only on an idle device: while the trainer holds it, the batch
        // keeps growing (the task thread stays free to take requests) until it is full.
        submit(colocated && buffer.size() < maxBatch);
    }

    private void scheduleFlush(long at) {
        if (timerAt < 0) {
            timerAt = at;
            getProcessingTimeService().registerTimer(at, this);
        }
    }

    /** The sampling thread is free and the last batch is (nearly) out: at most about two batches wait for emission. */
    private boolean canSubmit() {
        return inFlight == null && toEmit.size() < maxBatch;
    }

    /** Hands the next batch (at most {@code maxBatch} of the buffer, oldest first) to the sampling thread. */
    private void submit(boolean idleOnly) {
        int n = Math.min(buffer.size(), maxBatch);
        List<GenerationRequest> batch = new ArrayList<>(buffer.subList(0, n));
        buffer.subList(0, n).clear();
        if (!buffer.isEmpty()) {
            bufferDueAt = getProcessingTimeService().getCurrentProcessingTime(); // what is left was waiting already
        }
        inFlight = batch;
        onEngine(() -> {
            PolicySampler.Sampled sampled = sampler.sample(batch, idleOnly);
            return () -> sampled(sampled);
        });
    }

    /** Work for the sampling thread; what it returns runs on the task thread (a mail), in order. */
    private void onEngine(EngineWork work) {
        engineTasks++;
        engine.execute(() -> {
            ThrowingRunnable<Exception> then;
            try {
                then = work.run();
            } catch (Throwable t) {
                then = () -> {
                    throw new IllegalStateException("the generator's sampling thread failed", t);
                };
            }
            ThrowingRunnable<Exception> result = then;
            try {
                mailbox.execute(() -> {
                    engineTasks--;
                    if (stopping()) {
                        heldResults.add(result);
                    } else {
                        result.run();
                    }
                }, "generator result");
            } catch (RejectedExecutionException e) {
                // the task is closing: nothing will take the result, and its input is in the last checkpoint
            }
        });
    }

    @FunctionalInterface
    private interface EngineWork {
        ThrowingRunnable<Exception> run() throws Exception;
    }

    /** On the task thread: a batch came back from the sampling thread. */
    private void sampled(PolicySampler.Sampled s) throws Exception {
        inFlight = null;
        if (s.deferred()) {
            metrics.deferred();
            buffer.addAll(0, s.requests()); // first again, and still due
            bufferDueAt = getProcessingTimeService().getCurrentProcessingTime();
            if (buffer.size() >= maxBatch) {
                submit(false);
            } else {
                scheduleFlush(bufferDueAt + DEFER_RETRY_MS);
            }
            return;
        }
        FaultInjection.check(FaultInjection.Point.GENERATE);
        if (s.failure() != null) {
            LOG.error("Generation with policy version {} failed for {} prompts", sampler.version(), s.requests().size(), s.failure());
        }
        for (DeadLetter d : s.deadLetters()) {
            output.collect(DEAD_LETTERS, new StreamRecord<>(d));
        }
        metrics.sampled(s);
        toEmit.addAll(s.generations());
        rngAfterLastBatch = sampler.rngState(); // read between batches: the sampling thread is not using it
        startEmitting();
        maybeSubmit();
    }

    /** Starts the next batch when the sampling thread is free: a full one, or a partial one that is due. */
    private void maybeSubmit() {
        if (buffer.isEmpty() || !canSubmit() || stopping()) {
            return;
        }
        if (buffer.size() >= maxBatch) {
            submit(false);
        } else if (getProcessingTimeService().getCurrentProcessingTime() >= bufferDueAt) {
            submit(colocated);
        } else {
            scheduleFlush(bufferDueAt);
        }
    }

    private void startEmitting() {
        if (!emitting && !toEmit.isEmpty() && !stopping()) {
            emitting = true;
            mailbox.execute(this::emitNext, "emit generation");
        }
    }

    /**
     * Emits one generation and queues the next as a mail of its own. A chained step downstream may
     * block in its own emit (the async score step waits for capacity without running the task's
     * mails): between two generations the task goes back to its mailbox, so a checkpoint barrier
     * waits for at most one of them, not a whole batch.
     */
    private void emitNext() {
        if (stopping()) {
            emitting = false; // what is left is in the savepoint
            return;
        }
        Generation g = toEmit.poll();
        if (g != null) {
            metrics.emitted(g);
            output.collect(new StreamRecord<>(g));
        }
        if (!toEmit.isEmpty()) {
            mailbox.execute(this::emitNext, "emit generation");
        } else {
            emitting = false;
            maybeSubmit();
        }
    }

    private boolean stopping() {
        return stoppingAt >= 0;
    }

    /** True when nothing handed to the sampling thread awaits its result (for tests and draining). */
    public boolean idle() {
        return engineTasks == 0 && toEmit.isEmpty();
    }

    @Override
    public OperatorSnapshotFutures snapshotState(long checkpointId, long timestamp, CheckpointOptions options,
            CheckpointStreamFactory factory) throws Exception {
        OperatorSnapshotFutures snapshot = super.snapshotState(checkpointId, timestamp, options, factory);
        if (options.getCheckpointType() instanceof SavepointType savepoint && savepoint.isSynchronous()) {
            // A stop-with-savepoint: the task ends once it completes. Emitting past its barrier only made
            // work the savepoint already holds, and failed or hung the task once it drained its mailbox.
            stoppingAt = checkpointId;
            LOG.info("Generator {} stops at savepoint {}: {} generations and {} requests wait in it", getRuntimeContext().getTaskInfo()
                    .getIndexOfThisSubtask(), checkpointId, toEmit.size(), buffer.size() + (inFlight == null ? 0 : inFlight.size()));
        }
        return snapshot;
    }

    @Override
    public void notifyCheckpointAborted(long checkpointId) throws Exception {
        super.notifyCheckpointAborted(checkpointId);
        if (checkpointId == stoppingAt) { // the stop failed and the task goes on: so does the generator
            stoppingAt = -1;
            List<ThrowingRunnable<Exception>> held = new ArrayList<>(heldResults);
            heldResults.clear();
            for (ThrowingRunnable<Exception> r : held) {
                r.run();
            }
            startEmitting();
            maybeSubmit();
        }
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        // The batch in flight belongs to this checkpoint's input: its generations come after the barrier.
        List<GenerationRequest> pending = new ArrayList<>(buffer.size() + (inFlight == null ? 0 : inFlight.size()));
        if (inFlight != null) {
            pending.addAll(inFlight);
        }
        pending.addAll(buffer);
        bufferState.update(pending);
        rngState.update(List.of(rngAfterLastBatch));
        emitState.update(new ArrayList<>(toEmit));
    }

    @Override
    public void finish() throws Exception {
        // Input ended (or a stop with --drain): emit everything first. After a stop-with-savepoint's barrier
        // the savepoint holds what is left (Flink does not call finish then; a test harness's close does).
        while (!stopping() && (engineTasks > 0 || !buffer.isEmpty() || !toEmit.isEmpty())) {
            if (canSubmit() && !buffer.isEmpty()) {
                submit(false);
            } else {
                mailbox.yield();
            }
        }
        super.finish();
    }

    @Override
    public void close() throws Exception {
        try {
            if (engine != null) {
                engine.shutdownNow();
                closeWhenStopped(engine, sampler);
            } else if (sampler != null) {
                sampler.close();
            }
        } finally {
            super.close();
        }
    }

    /**
     * Frees the policy copy once the sampling thread has stopped: a batch it is sampling still uses it.
     * When that takes long, or the task thread is interrupted (a cancellation), a daemon thread waits
     * for it instead, so a failover neither blocks nor leaks the copy.
     */
    private static void closeWhenStopped(ExecutorService engine, PolicySampler sampler) {
        try {
            if (engine.awaitTermination(CLOSE_WAIT_S, TimeUnit.SECONDS)) {
                sampler.close();
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Thread closer = new Thread(() -> {
            try {
                while (!engine.awaitTermination(1, TimeUnit.MINUTES)) {
                    LOG.warn("The generator's sampling thread is still running after close; its policy copy is freed when it stops");
                }
                sampler.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "generate-sampler-closer");
        closer.setDaemon(true);
        closer.start();
    }
}
