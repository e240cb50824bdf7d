package io.optune.operators.select;

import io.optune.engine.Rng;
import io.optune.engine.loop.PairBuilder;
import io.optune.engine.loop.RewardWindow;
import io.optune.engine.loop.SelectionRule;
import io.optune.engine.loop.SelectionStrategy;
import io.optune.engine.train.PairWeighting;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.MemoryUpdate;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.Prompt;
import io.optune.operators.records.PromptOutcome;
import io.optune.operators.records.StoredPair;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import java.time.Duration;

/**
 * Step 2, select (keyed by prompt id). Holds each prompt's response memory in keyed state (RocksDB
 * in production, with a TTL so abandoned prompts expire) and decides per arrival:
 *
 * <ul>
 *   <li>regenerate: emit a {@link GenerationRequest} (carrying the memory) to the generator;
 *   <li>reuse: emit the stored pair to {@link #REUSED_PAIRS}, straight to batching.
 * </ul>
 *
 * The rule is the engine's {@link SelectionRule}: new prompts always generate; OPTUNE regenerates a
 * known prompt when its stored score ranks in the lowest {@code rho} of this subtask's recent
 * scores ({@link RewardWindow}, kept in operator state). Each subtask ranks against the prompts it
 * owns, a uniform hash sample of all prompts, so the estimate needs no coordination. The second
 * input receives {@link MemoryUpdate}s fed back from the pair step.
 *
 * <p>Memory comes back a checkpoint or so after a regeneration. A known prompt that arrives again
 * while its regeneration is in flight (requested, no memory update yet, within
 * {@code inFlightTimeout}) reuses its stored pair instead of being regenerated once more on the same
 * stale score: the streaming counterpart of the paper regenerating a prompt once per round. The ALL
 * strategy (full online DPO) regenerates every arrival regardless.
 */
public class SelectFunction extends KeyedCoProcessFunction<String, Prompt, MemoryUpdate, GenerationRequest>
        implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;

    public static final OutputTag<PreferencePair> REUSED_PAIRS = new OutputTag<>("reused-pairs") {};

    /** State names are part of the savepoint layout: never rename. */
    /**
     * "-v2": the memory holds token ids ({@link StoredPair} layout 2). A savepoint of layout 1 (texts)
     * restores without it: every prompt is new again once.
     */
    static final String MEMORY_STATE = "response-memory-v2";
    static final String STATS_STATE = "reward-stats";
    static final String WINDOW_STATE = "reward-window";
    static final String RNG_STATE = "select-rng";
    static final String IN_FLIGHT_STATE = "regeneration-in-flight";

    private final SelectionStrategy strategy;
    private final double rho;
    private final ScoreBasis basis;
    private final double minGap;
    private final PairWeighting weighting;
    private final double beta2;
    private final int windowSize;
    private final Duration ttl;
    private final Duration inFlightTimeout;
    private final long seed;

    private transient ValueState<StoredPair> memory;
    private transient ValueState<double[]> stats;
    private transient ValueState<Long> inFlightSince;
    private transient ListState<float[]> windowState;
    private transient ListState<Long> rngState;
    private transient RewardWindow window;
    private transient Rng rng;
    private transient SelectionRule rule;
    private transient PairBuilder pairs;
    private transient Counter regenerated;
    private transient Counter reused;
    private transient Counter newPrompts;
    private transient Counter inFlightReuses;
    private transient LongCounter regeneratedTotal;
    private transient LongCounter reusedTotal;

    /** Accumulator names (job-wide totals). */
    public static final String ACC_REGENERATED = "promptsRegenerated";
    public static final String ACC_REUSED = "promptsReused";

    public SelectFunction(SelectionStrategy strategy, double rho, ScoreBasis basis, double minGap, PairWeighting weighting,
            double beta2, int windowSize, Duration ttl, Duration inFlightTimeout, long seed) {
        this.strategy = strategy;
        this.rho = rho;
        this.basis = basis;
        this.minGap = minGap;
        this.weighting = weighting;
        this.beta2 = beta2;
        this.windowSize = windowSize;
        this.ttl = ttl;
        this.inFlightTimeout = inFlightTimeout;
        this.seed = seed;
        new SelectionRule(strategy, rho); // validate early, at job build time
    }

    @Override
    public void open(OpenContext openContext) {
        rule = new SelectionRule(strategy, rho);
        pairs = new PairBuilder(minGap, weighting, beta2);
        ValueStateDescriptor<StoredPair> memDesc = new ValueStateDescriptor<>(MEMORY_STATE, TypeInformation.of(StoredPair.class));
        ValueStateDescriptor<double[]> statsDesc = new ValueStateDescriptor<>(STATS_STATE, PrimitiveArrayTypeInfo.DOUBLE_PRIMITIVE_ARRAY_TYPE_INFO);
        ValueStateDescriptor<Long> inFlightDesc = new ValueStateDescriptor<>(IN_FLIGHT_STATE, Types.LONG);
        if (ttl != null && !ttl.isZero()) {
            StateTtlConfig ttlConfig = StateTtlConfig.newBuilder(ttl)
                    .setUpdateType(StateTtlConfig.UpdateType.OnReadAndWrite)
                    .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                    .build();
            memDesc.enableTimeToLive(ttlConfig);
            statsDesc.enableTimeToLive(ttlConfig);
            inFlightDesc.enableTimeToLive(ttlConfig);
        }
        memory = getRuntimeContext().getState(memDesc);
        stats = getRuntimeContext().getState(statsDesc);
        inFlightSince = getRuntimeContext().getState(inFlightDesc);
        var group = getRuntimeContext().getMetricGroup();
        regenerated = group.counter("promptsRegenerated");
        reused = group.counter("promptsReused");
        newPrompts = group.counter("promptsNew");
        inFlightReuses = group.counter("reusedWhileRegenerating");
        // Job-wide totals for the embedded run's progress and summary.
        getRuntimeContext().addAccumulator(ACC_REGENERATED, regeneratedTotal = new LongCounter());
        getRuntimeContext().addAccumulator(ACC_REUSED, reusedTotal = new LongCounter());
        group.gauge("selectionRate", () -> {
            long r = regenerated.getCount();
            long total = r + reused.getCount();
            return total == 0 ? 0.0 : (double) r / total;
        });
    }

    @Override
    public void processElement1(Prompt prompt, Context ctx, Collector<GenerationRequest> out) throws Exception {
        StoredPair stored = memory.value();
        double score = stored == null ? Double.NaN : score(stored);
        if (stored != null) {
            window.add(score);
        }
        long now = ctx.timerService().currentProcessingTime();
        boolean tracked = strategy != SelectionStrategy.ALL; // full online DPO regenerates regardless
        Long since = tracked && stored != null ? inFlightSince.value() : null;
        boolean inFlight = since != null && now - since < inFlightTimeout.toMillis();
        if (inFlight) {
            inFlightReuses.inc();
        }
        if (!inFlight && rule.regenerate(score, window, rng)) {
            regenerated.inc();
            regeneratedTotal.add(1L);
            if (stored == null) {
                newPrompts.inc();
            }
            if (tracked) {
                inFlightSince.update(now);
            }
            out.collect(new GenerationRequest(prompt, stored, now));
        } else {
            reused.inc();
            reusedTotal.add(1L);
            var pair = pairs.pairOf(stored.toMemory());
            if (pair.isPresent()) {
                // The stored ids, exactly as generated: the prompt is not encoded again.
                ctx.output(REUSED_PAIRS, new PreferencePair(prompt.id(), prompt.requestId(), prompt.display(), stored.promptIds(), pair.get(),
                        stored.policyVersion(), false));
            } else {
                ctx.output(PromptOutcome.LEDGER, PromptOutcome.skipped(prompt.requestId(), prompt.id(), "select", "stored-gap-below-minimum"));
            }
        }
    }

    @Override
    public void processElement2(MemoryUpdate update, Context ctx, Collector<GenerationRequest> out) throws Exception {
        StoredPair current = memory.value();
        StoredPair next = update.memory();
        if (current != null && current.chosenReward() > next.chosenReward()
                && java.util.Arrays.equals(current.promptIds(), next.promptIds())) {
            // Two generations of one prompt in flight: keep the best chosen seen by either (of the same prompt ids).
            next = new StoredPair(next.promptIds(), current.chosen(), current.chosenReward(), next.rejected(), next.rejectedReward(),
                    next.latestReward(), Math.max(current.policyVersion(), next.policyVersion()));
        }
        memory.update(next);
        if (strategy != SelectionStrategy.ALL) {
            inFlightSince.clear();
        }
        double[] s = stats.value();
        if (s == null) {
            s = new double[3];
        }
        welford(s, next.latestReward());
        welford(s, next.rejectedReward());
        stats.update(s);
    }

    private double score(StoredPair stored) throws Exception {
        if (basis == ScoreBasis.RAW) {
            return stored.latestReward();
        }
        double[] s = stats.value();
        if (s == null || s[0] < 2) {
            return 0.0;
        }
        double std = Math.sqrt(s[2] / (s[0] - 1));
        return (stored.latestReward() - s[1]) / (std + 1e-6);
    }

    /** Running count, mean and sum of squared deviations. */
    static void welford(double[] s, double x) {
        s[0] += 1;
        double d = x - s[1];
        s[1] += d / s[0];
        s[2] += d * (x - s[1]);
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        windowState.update(java.util.List.of(window.snapshot()));
        rngState.update(java.util.List.of(rng.state()));
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        windowState = context.getOperatorStateStore().getListState(
                new ListStateDescriptor<>(WINDOW_STATE, PrimitiveArrayTypeInfo.FLOAT_PRIMITIVE_ARRAY_TYPE_INFO));
        rngState = context.getOperatorStateStore().getListState(new ListStateDescriptor<>(RNG_STATE, Types.LONG));
        window = new RewardWindow(windowSize);
        rng = Rng.derive(seed, getRuntimeContext().getTaskInfo().getIndexOfThisSubtask());
        if (context.isRestored()) {
            // After a rescale a subtask may receive several subtasks' windows (or none): it replays
            // them into its own, which keeps the last `windowSize` scores of that sequence.
            for (float[] w : windowState.get()) {
                for (float v : w) {
                    window.add(v);
                }
            }
            for (Long s : rngState.get()) {
                rng.setState(s);
            }
        }
    }
}
