package io.optune.operators.train;

import ai.djl.ndarray.NDManager;
import io.optune.engine.DeviceTurns;
import io.optune.engine.checkpoint.CheckpointFiles;
import io.optune.engine.checkpoint.HfCheckpoint;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.engine.checkpoint.SafeTensorsStream;
import io.optune.engine.tokenizer.Tokenizer;
import io.optune.engine.train.DpoConfig;
import io.optune.engine.train.DpoTrainer;
import io.optune.engine.train.PreferenceExample;
import io.optune.engine.train.StepResult;
import io.optune.engine.train.TrainerState;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PreferenceBatch;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.PromptOutcome;
import io.optune.operators.faults.FaultInjection;
import io.optune.operators.weights.VerifiedVersion;
import io.optune.operators.weights.VersionWriter;
import io.optune.operators.weights.WeightLog;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Step 7, train (parallelism 1): one weighted-DPO step per batch; every {@code publishEvery} steps
 * the policy is written to the {@link WeightLog} and a {@link PolicyUpdate} is emitted, which the
 * job feeds back to the generators.
 *
 * <p>The whole trainer (policy, frozen reference, AdamW moments, step) is checkpointed, so a restore
 * resumes the exact optimisation: {@link TrainOperator} streams it to the checkpoint storage (run
 * this function only inside that operator). Numbering versions and making them visible, at once or
 * on checkpoints, is the {@link VersionPublisher}'s job.
 */
public class TrainFunction extends ProcessFunction<PreferenceBatch, PolicyUpdate> implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(TrainFunction.class);

    /**
     * A state name is part of the savepoint layout: never rename. {@code trainer-state} held the
     * trainer as one byte array (checkpoints of earlier releases); it is still read, and left empty.
     */
    static final String TRAINER_STATE = "trainer-state";

    private final WeightLog weightLog;
    private final DpoConfig dpo;
    private final int publishEvery;
    private SafeTensorsStream.Dtype weightsDtype = SafeTensorsStream.Dtype.F32;
    private ReferenceSource referenceSource;
    private int referenceRefreshEvery;
    private double referenceMixup = 1.0;
    private Publication publication = Publication.IMMEDIATE;

    /** Set by {@link TrainOperator}: anywhere else the trainer would not be checkpointed. */
    private boolean hosted;

    /** Where the policy, reference and optimizer live ({@link io.optune.engine.EngineDevice}); cpu unless set. */
    private String device = "cpu";
    /** Take turns on the device with the generators of this process ({@link DeviceTurns}); off unless set. */
    private boolean colocated;
    /** Checkpoints copy the trainer at the barrier and write it off the task thread ({@link TrainOperator}). */
    private boolean asyncSnapshot = true;

    private transient ListState<byte[]> legacyTrainerState;
    private transient byte[] restoredTrainer;
    private transient VersionPublisher publisher;
    private transient NDManager manager;
    private transient DpoTrainer trainer;
    private transient Tokenizer tokenizer;
    private transient PolicyDirectory.TokenizerFiles tokenizerFiles;
    private transient Window window;
    private transient StepResult lastStep;
    private transient Counter pairsTrained;
    private transient org.apache.flink.api.common.accumulators.LongCounter pairsTrainedTotal;

    /** Accumulator name: pairs trained, job-wide (for progress and benchmarks). */
    public static final String ACC_PAIRS_TRAINED = "pairsTrained";
    /** Accumulator name: microseconds in DPO steps (the trainer's compute; waits for a turn excluded). */
    public static final String ACC_BUSY_US = "trainerBusyUs";
    private transient org.apache.flink.api.common.accumulators.LongCounter busyUs;
    private transient Counter deviceWaitMs;
    private transient Counter invalidPairs;

    /** Running sums since the last publication. */
    private static final class Window {
        int steps;
        int pairs;
        int fresh;
        double loss;
        double margin;
        double logRatioMean;
        double reward;
    }

    /**
     * @param publishEvery a version is published every this many trainer steps. Published versions
     *     carry no held-out reward: evaluation reads them from the weight log, off this thread
     */
    public TrainFunction(WeightLog weightLog, DpoConfig dpo, int publishEvery) {
        if (publishEvery < 1) {
            throw new IllegalArgumentException("publishEvery must be >= 1");
        }
        this.weightLog = weightLog;
        this.dpo = dpo;
        this.publishEvery = publishEvery;
    }

    /** The dtype of published {@code model.safetensors} files (default float32). */
    public TrainFunction withWeightsDtype(SafeTensorsStream.Dtype dtype) {
        this.weightsDtype = java.util.Objects.requireNonNull(dtype);
        return this;
    }

    /**
     * The frozen reference for a trainer that starts without checkpointed state (default: the policy
     * it starts from). A restored trainer keeps the reference in its state.
     */
    public TrainFunction withReference(ReferenceSource source) {
        this.referenceSource = source;
        return this;
    }

    /** When published versions become visible (default {@link Publication#IMMEDIATE}). */
    public TrainFunction withPublication(Publication publication) {
        this.publication = java.util.Objects.requireNonNull(publication);
        return this;
    }

    /** Trains on {@code device} (cpu, gpu, gpu:N); checked for form now, for a GPU at open. */
    public TrainFunction onDevice(String device) {
        this.device = io.optune.engine.EngineDevice.checkSpec(device);
        return this;
    }

    /**
     * Takes turns on the device with the generators of this process ({@code optune.engine.colocate}):
     * each DPO step waits until no sampling micro-batch runs on the same device.
     */
    public TrainFunction colocated(boolean colocated) {
        this.colocated = colocated;
        return this;
    }

    /**
     * {@code true} (default): a checkpoint copies the trainer on its device at the barrier and Flink's
     * checkpoint thread writes the copy while training goes on (a transient second copy, 16 bytes
     * per parameter). {@code false}: the trainer is written in the synchronous phase (no copy; the
     * barrier waits for the write).
     */
    public TrainFunction withAsyncSnapshot(boolean asyncSnapshot) {
        this.asyncSnapshot = asyncSnapshot;
        return this;
    }

    boolean asyncSnapshot() {
        return asyncSnapshot;
    }

    /**
     * Moves the DPO reference towards the policy every {@code every} steps (0: never), {@code ref =
     * alpha * policy + (1 - alpha) * ref}. The reference is part of the checkpointed trainer.
     */
    public TrainFunction withReferenceRefresh(int every, double alpha) {
        if (every < 0 || !(alpha > 0 && alpha <= 1)) {
            throw new IllegalArgumentException("reference refresh needs every >= 0 and alpha in (0, 1]: " + every + ", " + alpha);
        }
        this.referenceRefreshEvery = every;
        this.referenceMixup = alpha;
        return this;
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        legacyTrainerState = context.getOperatorStateStore().getListState(
                new ListStateDescriptor<>(TRAINER_STATE, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        publisher = VersionPublisher.create(weightLog, publication, context.getOperatorStateStore(), context.isRestored());
        restoredTrainer = null;
        if (context.isRestored()) {
            for (byte[] b : legacyTrainerState.get()) {
                restoredTrainer = b;
            }
        }
    }

    void hostedByTrainOperator() {
        hosted = true;
    }

    /** Called by {@link TrainOperator} on restore, before {@link #open}: reads the streamed trainer. */
    void restoreTrainer(InputStream in) throws IOException {
        if (manager == null) {
            manager = NDManager.newBaseManager(io.optune.engine.EngineDevice.parse(device));
        }
        if (trainer != null) {
            trainer.close();
        }
        trainer = TrainerState.read(in, manager, dpo).trainer();
        restoredTrainer = null; // a streamed trainer supersedes one from an older checkpoint format
    }

    /** Called by {@link TrainOperator} at each checkpoint: streams the trainer, tensor by tensor. */
    void writeTrainer(OutputStream out) throws IOException {
        if (trainer == null) {
            throw new IllegalStateException("the trainer is not open yet: nothing to checkpoint");
        }
        TrainerState.write(trainer, 0L, out);
    }

    /** Called by {@link TrainOperator} at each checkpoint: the trainer copied as it stands, for writing elsewhere. */
    TrainerState.Frozen freezeTrainer() {
        if (trainer == null) {
            throw new IllegalStateException("the trainer is not open yet: nothing to checkpoint");
        }
        return TrainerState.freeze(trainer, 0L);
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        if (!hosted) {
            throw new IllegalStateException("TrainFunction must run inside a TrainOperator, which checkpoints the trainer");
        }
        if (manager == null) {
            manager = NDManager.newBaseManager(io.optune.engine.EngineDevice.parse(device));
        }
        // Never start from a version that fails its checks, not even our own (the store may be shared).
        try (VerifiedVersion base = weightLog.newestVerified(e -> LOG.error("Refused a policy version: {}", e.getMessage()))) {
            if (trainer != null || restoredTrainer != null) {
                tokenizer = PolicyDirectory.loadTokenizer(base.dir());
                tokenizerFiles = PolicyDirectory.tokenizerFiles(base.dir(), tokenizer);
                if (trainer != null) {
                    LOG.info("Trainer restored at step {} from the checkpoint", trainer.step());
                } else {
                    trainer = TrainerState.restore(restoredTrainer, manager, dpo).trainer();
                    LOG.info("Trainer restored at step {} from a checkpoint of the earlier (single array) format", trainer.step());
                }
            } else {
                PolicyDirectory.Loaded loaded = PolicyDirectory.load(base.dir(), manager);
                tokenizer = loaded.tokenizer();
                tokenizerFiles = loaded.tokenizerFiles();
                if (referenceSource == null) {
                    trainer = new DpoTrainer(loaded.model(), dpo);
                } else {
                    CheckpointFiles ref = referenceSource.open();
                    HfCheckpoint.Loaded reference = HfCheckpoint.load(ref, manager);
                    if (!reference.config().equals(loaded.model().config())) {
                        reference.model().close();
                        loaded.model().close();
                        throw new IllegalArgumentException("the reference checkpoint " + ref.describe() + " is a "
                                + reference.config() + ", the policy a " + loaded.model().config() + "; they must have the same shape");
                    }
                    trainer = new DpoTrainer(loaded.model(), reference.model(), dpo);
                    LOG.info("Frozen reference loaded from {}", ref.describe());
                }
                LOG.info("Trainer starts from policy version {} of the weight log", base.update().version());
            }
        }
        trainer.setReferenceRefresh(referenceRefreshEvery, referenceMixup);
        restoredTrainer = null;
        var group = getRuntimeContext().getMetricGroup();
        publisher.open(group);
        window = new Window();
        pairsTrained = group.counter("pairsTrained");
        getRuntimeContext().addAccumulator(ACC_PAIRS_TRAINED, pairsTrainedTotal = new org.apache.flink.api.common.accumulators.LongCounter());
        invalidPairs = group.counter("invalidPairs");
        getRuntimeContext().addAccumulator(ACC_BUSY_US, busyUs = new org.apache.flink.api.common.accumulators.LongCounter());
        deviceWaitMs = group.counter("deviceWaitMs");
        group.gauge("trainerStep", () -> trainer.step());
        group.gauge("skippedSteps", () -> trainer.skippedSteps());
        group.gauge("loss", () -> lastStep == null ? Double.NaN : lastStep.loss());
        group.gauge("dpoMargin", () -> lastStep == null ? Double.NaN : lastStep.margin());
        group.gauge("logRatioMean", () -> lastStep == null ? Double.NaN : lastStep.logRatioMean());
    }

    @Override
    public void processElement(PreferenceBatch batch, Context ctx, Collector<PolicyUpdate> out) throws Exception {
        List<PreferenceExample> examples = new ArrayList<>(batch.pairs().length);
        List<PreferencePair> used = new ArrayList<>(batch.pairs().length);
        double reward = 0;
        int fresh = 0;
        for (PreferencePair p : batch.pairs()) {
            try {
                // Exactly the ids that were sampled (and the prompt ids they were sampled from):
                // nothing is encoded again from text, which need not give the same ids.
                if (p.promptIds() == null || p.pair() == null || p.chosen() == null || p.rejected() == null) {
                    throw new IllegalArgumentException("pair without prompt or response ids");
                }
                PreferenceExample e = new PreferenceExample(p.promptIds(), p.chosen().ids(), p.rejected().ids(), p.weight());
                check(e);
                examples.add(e);
                used.add(p);
                reward += p.chosenReward();
                fresh += p.fresh() ? 1 : 0;
            } catch (IllegalArgumentException e) {
                invalidPairs.inc();
                LOG.warn("Pair for prompt {} refused by the trainer: {}", p.promptId(), e.getMessage());
                ctx.output(PromptOutcome.LEDGER, PromptOutcome.skipped(p.requestId(), p.promptId(), "train", "invalid-pair"));
            }
        }
        if (examples.isEmpty()) {
            return;
        }
        StepResult r;
        try (DeviceTurns.Turn turn = DeviceTurns.take(device, colocated)) {
            deviceWaitMs.inc(turn.waitedMs());
            long start = System.nanoTime();
            r = trainer.step(examples);
            busyUs.add((System.nanoTime() - start) / 1_000);
        }
        FaultInjection.check(FaultInjection.Point.TRAIN);
        lastStep = r;
        for (PreferencePair p : used) {
            ctx.output(PromptOutcome.LEDGER, r.skipped()
                    ? PromptOutcome.skipped(p.requestId(), p.promptId(), "train", "non-finite-loss")
                    : PromptOutcome.trained(p, trainer.step()));
        }
        pairsTrained.inc(examples.size());
        pairsTrainedTotal.add((long) examples.size());
        if (!r.skipped()) {
            window.steps++;
            window.loss += r.loss();
            window.margin += r.margin();
            window.logRatioMean += r.logRatioMean();
        }
        window.pairs += examples.size();
        window.fresh += fresh;
        window.reward += reward;
        // Absolute step, so a restored trainer publishes at the same steps as an uninterrupted one.
        if (!r.skipped() && trainer.step() % publishEvery == 0) {
            publish(out);
        }
    }

    /** Refuses a pair the policy cannot score: empty parts, ids outside its vocabulary, longer than its context. */
    private void check(PreferenceExample e) {
        int vocab = trainer.policy().config().vocabSize();
        int context = trainer.policy().config().contextLength();
        if (e.prompt() == null || e.prompt().length == 0 || e.chosen() == null || e.chosen().length == 0
                || e.rejected() == null || e.rejected().length == 0) {
            throw new IllegalArgumentException("pair without prompt or response ids");
        }
        for (int[] ids : new int[][] {e.prompt(), e.chosen(), e.rejected()}) {
            for (int id : ids) {
                if (id < 0 || id >= vocab) {
                    throw new IllegalArgumentException("token id " + id + " is outside the policy's vocabulary of " + vocab);
                }
            }
        }
        int longest = e.prompt().length + Math.max(e.chosen().length, e.rejected().length);
        if (longest > context) {
            throw new IllegalArgumentException("pair of " + longest + " tokens exceeds the context of " + context);
        }
    }

    private void publish(Collector<PolicyUpdate> out) throws InterruptedException {
        Window w = window;
        PolicyUpdate update = new PolicyUpdate(publisher.nextVersion(), trainer.step(), null, null, System.currentTimeMillis(),
                w.loss / Math.max(1, w.steps), w.margin / Math.max(1, w.steps), w.logRatioMean / Math.max(1, w.steps),
                w.reward / Math.max(1, w.pairs), (double) w.fresh / Math.max(1, w.pairs), Double.NaN);
        VersionWriter files = dir -> PolicyDirectory.write(trainer.policy(), tokenizer, tokenizerFiles, weightsDtype, dir);
        VersionPublisher.Outcome outcome = publisher.publish(update, files);
        if (outcome.written()) {
            window = new Window();
        }
        outcome.toEmit().ifPresent(out::collect);
    }

    /** Publication on checkpoints: announces what checkpoint {@code checkpointId} holds, for {@link TrainOperator} to emit. */
    List<PolicyUpdate> commitStaged(long checkpointId) {
        return publisher.commitStaged(checkpointId);
    }

    /** Versions committed while opening (staged by the checkpoint this job restored), once. */
    List<PolicyUpdate> takeCommittedAtOpen() {
        return publisher.takeCommittedAtOpen();
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        // The trainer itself is streamed by TrainOperator; the publisher lists its counter and staged versions.
        legacyTrainerState.clear();
        publisher.snapshotState(context.getCheckpointId());
    }

    @Override
    public void close() throws Exception {
        if (manager != null) {
            manager.close();
        }
    }
}
