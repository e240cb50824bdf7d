package io.optune.operators.select;

import io.optune.engine.Rng;
import io.optune.engine.loop.AutoRho;
import io.optune.engine.loop.PairBuilder;
import io.optune.engine.loop.StreamSelector;
import io.optune.engine.loop.StreamSelector.Decision;
import io.optune.engine.loop.SelectionStrategy;
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
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.List;

/**
 * Step 2, select (keyed by prompt id). Holds each prompt's response memory in keyed state (RocksDB
 * in production, with a TTL so abandoned prompts expire) and decides per arrival, with the engine's
 * {@link StreamSelector}:
 *
 * <ul>
 *   <li>regenerate: emit a {@link GenerationRequest} (carrying the memory) to the generator, and
 *       mark the prompt in flight until its {@link MemoryUpdate} comes back on the second input;
 *   <li>reuse: emit the stored pair to {@link #REUSED_PAIRS}, straight to batching;
 *   <li>skip: the prompt's regeneration is in flight (its stored pair is stale and the fresh one is on
 *       its way); the ledger records {@code regeneration-in-flight}.
 * </ul>
 *
 * OPTUNE ranks a known prompt's latest score among the latest scores of the prompts this subtask
 * owns (a hash sample of all prompts) and a feedback controller holds the share of regenerated
 * arrivals at rho; a stored pair reused {@code max-reuses} times, or more than {@code max-staleness}
 * policy versions older than the newest version this subtask has seen in memory updates, is
 * regenerated. With {@code rho: auto} an {@link AutoRho} sets the share from the generation backlog.
 */
public class SelectFunction extends KeyedCoProcessFunction<String, Prompt, MemoryUpdate, GenerationRequest>
        implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(SelectFunction.class);

    public static final OutputTag<PreferencePair> REUSED_PAIRS = new OutputTag<>("reused-pairs") {};

    /** State names are part of the savepoint layout: never rename. */
    /**
     * "-v2": the memory holds token ids ({@link StoredPair} layout 2). A savepoint of layout 1 (texts)
     * restores without it: every prompt is new again once.
     */
    static final String MEMORY_STATE = "response-memory-v2";
    static final String STATS_STATE = "reward-stats";
    static final String IN_FLIGHT_STATE = "regeneration-in-flight";
    static final String REUSES_STATE = "pair-reuses";
    static final String SELECTOR_STATE = "prompt-selector";
    /** Ledger reason of an arrival skipped because its prompt's regeneration is in flight. */
    public static final String IN_FLIGHT_REASON = "regeneration-in-flight";
    /** Arrivals between two auto-rho control steps. */
    static final int AUTO_INTERVAL = 100;
    static final long AUTO_LOG_EVERY_MS = 30_000;
    private static final int STATE_FORMAT = 1;

    /** Accumulator names (job-wide totals). */
    public static final String ACC_REGENERATED = "promptsRegenerated";
    public static final String ACC_REUSED = "promptsReused";
    public static final String ACC_IN_FLIGHT = "promptsSkippedInFlight";

    private final SelectConfig config;

    private transient ValueState<StoredPair> memory;
    private transient ValueState<double[]> stats;
    private transient ValueState<Long> inFlightSince;
    private transient ValueState<Integer> reuses;
    private transient ListState<byte[]> selectorState;
    private transient StreamSelector selector;
    private transient AutoRho autoRho;
    private transient Rng rng;
    private transient PairBuilder pairs;
    /** Newest policy version seen in a memory update: what staleness is measured against. */
    private transient long knownVersion;
    /** Regenerations requested here whose memory has not come back (auto rho's backlog). */
    private transient int inFlightCount;
    private transient long autoArrivals;
    private transient long autoSince;
    /** Auto rho's last logged value, when, and the range it moved in since. */
    private transient double autoLogged;
    private transient long autoLoggedAt;
    private transient double autoLow;
    private transient double autoHigh;
    private transient Counter regenerated;
    private transient Counter reused;
    private transient Counter newPrompts;
    private transient Counter skippedInFlight;
    private transient Counter forcedByReuses;
    private transient Counter forcedByStaleness;
    private transient Histogram reuseCount;
    private transient Histogram staleness;
    private transient LongCounter regeneratedTotal;
    private transient LongCounter reusedTotal;
    private transient LongCounter inFlightTotal;

    public SelectFunction(SelectConfig config) {
        this.config = config;
        new StreamSelector(config.strategy(), config.rho(), config.limits(), config.rankedPrompts()); // validate at build time
        new PairBuilder(config.minGap(), config.weighting(), config.beta2());
    }

    @Override
    public void open(OpenContext openContext) {
        pairs = new PairBuilder(config.minGap(), config.weighting(), config.beta2());
        ValueStateDescriptor<StoredPair> memDesc = new ValueStateDescriptor<>(MEMORY_STATE, TypeInformation.of(StoredPair.class));
        ValueStateDescriptor<double[]> statsDesc = new ValueStateDescriptor<>(STATS_STATE, PrimitiveArrayTypeInfo.DOUBLE_PRIMITIVE_ARRAY_TYPE_INFO);
        ValueStateDescriptor<Long> inFlightDesc = new ValueStateDescriptor<>(IN_FLIGHT_STATE, Types.LONG);
        ValueStateDescriptor<Integer> reusesDesc = new ValueStateDescriptor<>(REUSES_STATE, Types.INT);
        Duration ttl = config.ttl();
        if (ttl != null && !ttl.isZero()) {
            StateTtlConfig ttlConfig = StateTtlConfig.newBuilder(ttl)
                    .setUpdateType(StateTtlConfig.UpdateType.OnReadAndWrite)
                    .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                    .build();
            memDesc.enableTimeToLive(ttlConfig);
            statsDesc.enableTimeToLive(ttlConfig);
            inFlightDesc.enableTimeToLive(ttlConfig);
            reusesDesc.enableTimeToLive(ttlConfig);
        }
        memory = getRuntimeContext().getState(memDesc);
        stats = getRuntimeContext().getState(statsDesc);
        inFlightSince = getRuntimeContext().getState(inFlightDesc);
        reuses = getRuntimeContext().getState(reusesDesc);
        var group = getRuntimeContext().getMetricGroup();
        regenerated = group.counter("promptsRegenerated");
        reused = group.counter("promptsReused");
        newPrompts = group.counter("promptsNew");
        skippedInFlight = group.counter("skippedWhileRegenerating");
        forcedByReuses = group.counter("regeneratedForReuseCap");
        forcedByStaleness = group.counter("regeneratedForStaleness");
        reuseCount = group.histogram("pairReuseCount", new DescriptiveStatisticsHistogram(StreamSelector.REALISED_WINDOW));
        staleness = group.histogram("pairStaleness", new DescriptiveStatisticsHistogram(StreamSelector.REALISED_WINDOW));
        group.gauge("realisedRho", () -> selector.realisedRho());
        group.gauge("targetRho", () -> selector.rho());
        // Job-wide totals for the embedded run's progress and summary.
        getRuntimeContext().addAccumulator(ACC_REGENERATED, regeneratedTotal = new LongCounter());
        getRuntimeContext().addAccumulator(ACC_REUSED, reusedTotal = new LongCounter());
        getRuntimeContext().addAccumulator(ACC_IN_FLIGHT, inFlightTotal = new LongCounter());
        group.gauge("selectionRate", () -> {
            long r = regenerated.getCount();
            long total = r + reused.getCount() + skippedInFlight.getCount();
            return total == 0 ? 0.0 : (double) r / total;
        });
    }

    /** The selector's view, for tests. */
    StreamSelector selector() {
        return selector;
    }

    @Override
    public void processElement1(Prompt prompt, Context ctx, Collector<GenerationRequest> out) throws Exception {
        StoredPair stored = memory.value();
        double score = stored == null ? Double.NaN : score(stored);
        long now = ctx.timerService().currentProcessingTime();
        Long since = inFlightSince.value();
        boolean inFlight = since != null && now - since < config.inFlightTimeout().toMillis();
        int timesReused = stored == null ? 0 : valueOr(reuses.value(), 0);
        long age = stored == null ? 0 : Math.max(0, knownVersion - stored.policyVersion());
        Decision d = selector.decide(prompt.id(), score, inFlight, timesReused, age, rng);
        switch (d) {
            case IN_FLIGHT -> {
                skippedInFlight.inc();
                inFlightTotal.add(1L);
                ctx.output(PromptOutcome.LEDGER, PromptOutcome.skipped(prompt.requestId(), prompt.id(), "select", IN_FLIGHT_REASON));
            }
            case REUSE -> {
                reused.inc();
                reusedTotal.add(1L);
                reuses.update(timesReused + 1);
                reuseCount.update(timesReused + 1);
                staleness.update(age);
                var pair = pairs.pairOf(stored.toMemory());
                if (pair.isPresent()) {
                    // The stored ids, exactly as generated: the prompt is not encoded again.
                    ctx.output(REUSED_PAIRS, new PreferencePair(prompt.id(), prompt.requestId(), prompt.display(), stored.promptIds(),
                            pair.get(), stored.policyVersion(), false));
                } else {
                    ctx.output(PromptOutcome.LEDGER, PromptOutcome.skipped(prompt.requestId(), prompt.id(), "select", "stored-gap-below-minimum"));
                }
            }
            default -> {
                regenerated.inc();
                regeneratedTotal.add(1L);
                if (d == Decision.NEW) {
                    newPrompts.inc();
                } else if (d == Decision.REGENERATE_REUSE_CAP) {
                    forcedByReuses.inc();
                } else if (d == Decision.REGENERATE_STALE) {
                    forcedByStaleness.inc();
                }
                if (config.strategy() != SelectionStrategy.ALL) { // full online DPO does not wait for memory
                    if (since == null) {
                        inFlightCount++;
                    }
                    inFlightSince.update(now);
                }
                out.collect(new GenerationRequest(prompt, stored, now));
            }
        }
        if (autoRho != null && ++autoArrivals >= AUTO_INTERVAL) {
            double before = selector.rho();
            double chosen = autoRho.update(inFlightCount, autoArrivals, now - autoSince);
            selector.setRho(chosen);
            autoLow = Math.min(autoLow, chosen);
            autoHigh = Math.max(autoHigh, chosen);
            // One line per half minute at most: the controller may oscillate across a bucket every interval.
            if ((Math.abs(chosen - autoLogged) >= 0.05 || (int) (autoLogged * 20) != (int) (chosen * 20))
                    && now - autoLoggedAt >= AUTO_LOG_EVERY_MS) {
                LOG.info("Auto rho: {} (was {}; range {}..{} since the last line), {} regenerations in flight, realised {}",
                        String.format("%.3f", chosen), String.format("%.3f", autoLogged), String.format("%.3f", autoLow),
                        String.format("%.3f", autoHigh), inFlightCount, String.format("%.3f", selector.realisedRho()));
                autoLogged = chosen;
                autoLoggedAt = now;
                autoLow = chosen;
                autoHigh = chosen;
            }
            autoArrivals = 0;
            autoSince = now;
        }
    }

    @Override
    public void processElement2(MemoryUpdate update, Context ctx, Collector<GenerationRequest> out) throws Exception {
        StoredPair current = memory.value();
        StoredPair next = StoredPair.of(PairBuilder.keepBestChosen(current == null ? null : current.toMemory(), update.memory().toMemory()));
        memory.update(next);
        reuses.clear(); // a new pair: its reuses start again
        if (inFlightSince.value() != null) {
            inFlightSince.clear();
            inFlightCount = Math.max(0, inFlightCount - 1);
        }
        knownVersion = Math.max(knownVersion, update.memory().policyVersion());
        double[] s = stats.value();
        if (s == null) {
            s = new double[3];
        }
        welford(s, next.latestReward());
        welford(s, next.rejectedReward());
        stats.update(s);
        selector.scoreUpdated(update.promptId(), score(next));
    }

    private double score(StoredPair stored) throws Exception {
        if (config.basis() == ScoreBasis.RAW) {
            return stored.latestReward();
        }
        double[] s = stats.value();
        if (s == null || s[0] < 2) {
            return 0.0;
        }
        double std = Math.sqrt(s[2] / (s[0] - 1));
        return (stored.latestReward() - s[1]) / (std + 1e-6);
    }

    private static int valueOr(Integer v, int otherwise) {
        return v == null ? otherwise : v;
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
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream o = new DataOutputStream(bytes)) {
            o.writeInt(STATE_FORMAT);
            o.writeInt(getRuntimeContext().getTaskInfo().getIndexOfThisSubtask());
            o.writeLong(rng.state());
            o.writeLong(knownVersion);
            o.writeInt(inFlightCount);
            byte[] sel = selector.snapshot();
            o.writeInt(sel.length);
            o.write(sel);
        }
        selectorState.update(List.of(bytes.toByteArray()));
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        // Union state: after a rescale every subtask sees every blob and keeps the ranked prompts it now owns.
        selectorState = context.getOperatorStateStore().getUnionListState(
                new ListStateDescriptor<>(SELECTOR_STATE, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        var task = getRuntimeContext().getTaskInfo();
        int me = task.getIndexOfThisSubtask();
        selector = new StreamSelector(config.strategy(), config.rho(), config.limits(), config.rankedPrompts());
        rng = Rng.derive(config.seed(), me);
        AutoRho.Config auto = config.autoRho();
        if (auto != null && auto.budgetPerSecond() > 0) { // the budget is the job's: each subtask takes its share
            auto = new AutoRho.Config(auto.min(), auto.max(), auto.targetInFlight(), auto.budgetPerSecond() / task.getNumberOfParallelSubtasks());
        }
        autoRho = auto == null ? null : new AutoRho(auto, config.rho());
        autoLogged = autoLow = autoHigh = config.rho();
        autoLoggedAt = 0;
        if (autoRho != null) {
            selector.setRho(autoRho.rho());
        }
        if (context.isRestored()) {
            int parallelism = task.getNumberOfParallelSubtasks();
            int maxParallelism = task.getMaxNumberOfParallelSubtasks();
            for (byte[] blob : selectorState.get()) {
                try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(blob))) {
                    int format = in.readInt();
                    if (format != STATE_FORMAT) {
                        throw new IOException("unknown select operator state format " + format);
                    }
                    int subtask = in.readInt();
                    long rngState = in.readLong();
                    long version = in.readLong();
                    int flying = in.readInt();
                    byte[] sel = in.readNBytes(in.readInt());
                    boolean mine = subtask == me;
                    if (mine) {
                        rng.setState(rngState);
                        inFlightCount = flying;
                    }
                    knownVersion = Math.max(knownVersion, version);
                    selector.restore(sel, mine, id -> KeyGroupRangeAssignment.assignKeyToParallelOperator(id, maxParallelism, parallelism) == me);
                }
            }
            if (autoRho != null) {
                autoRho.restore(selector.rho());
            } else {
                selector.setRho(config.rho()); // a fixed rho is the configured one, not the saved one
            }
        }
    }
}
