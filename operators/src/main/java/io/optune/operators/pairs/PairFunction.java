package io.optune.operators.pairs;

import io.optune.engine.loop.PairBuilder;
import io.optune.engine.train.PairWeighting;
import io.optune.operators.records.Generation;
import io.optune.operators.records.MemoryUpdate;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.Prompt;
import io.optune.operators.records.PromptOutcome;
import io.optune.operators.records.ScoredGeneration;
import io.optune.operators.records.StoredPair;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import java.util.ArrayList;
import java.util.List;

/**
 * Step 5, pair: merges a prompt's scored responses with the memory its request carried (the
 * engine's {@link PairBuilder}: chosen = best seen so far, rejected = worst new one), drops pairs
 * under the minimum gap, weights the rest by their gap, and emits the prompt's new memory to
 * {@link #MEMORY_UPDATES}, which is fed back to the select step's keyed state.
 */
public class PairFunction extends ProcessFunction<ScoredGeneration, PreferencePair> {
    private static final long serialVersionUID = 1L;

    public static final OutputTag<MemoryUpdate> MEMORY_UPDATES = new OutputTag<>("memory-updates") {};

    private final double minGap;
    private final PairWeighting weighting;
    private final double beta2;

    private transient PairBuilder builder;
    private transient Counter pairs;
    private transient Counter smallGap;
    private transient double gapEma;

    public PairFunction(double minGap, PairWeighting weighting, double beta2) {
        this.minGap = minGap;
        this.weighting = weighting;
        this.beta2 = beta2;
        new PairBuilder(minGap, weighting, beta2); // validate at build time
    }

    @Override
    public void open(OpenContext openContext) {
        builder = new PairBuilder(minGap, weighting, beta2);
        var group = getRuntimeContext().getMetricGroup();
        pairs = group.counter("pairs");
        smallGap = group.counter("pairsUnderMinGap");
        gapEma = Double.NaN;
        group.gauge("meanGap", () -> gapEma);
    }

    @Override
    public void processElement(ScoredGeneration s, Context ctx, Collector<PreferencePair> out) {
        Generation g = s.generation();
        List<PairBuilder.Scored> fresh = new ArrayList<>(g.responses().length);
        for (int i = 0; i < g.responses().length; i++) {
            fresh.add(new PairBuilder.Scored(g.responses()[i].response(), s.rewards()[i]));
        }
        StoredPair stored = g.request().memory();
        PairBuilder.Outcome o = builder.merge(stored == null ? null : stored.toMemory(), g.promptIds(), fresh, g.policyVersion());
        ctx.output(MEMORY_UPDATES, new MemoryUpdate(g.request().prompt().id(), StoredPair.of(o.memory())));
        if (o.pair().isPresent()) {
            PairBuilder.Pair p = o.pair().get();
            pairs.inc();
            gapEma = Double.isNaN(gapEma) ? p.gap() : 0.99 * gapEma + 0.01 * p.gap();
            Prompt prompt = g.request().prompt();
            out.collect(new PreferencePair(prompt.id(), prompt.requestId(), prompt.display(), o.memory().prompt(), p, g.policyVersion(), true));
        } else {
            smallGap.inc();
            Prompt prompt = g.request().prompt();
            ctx.output(PromptOutcome.LEDGER, PromptOutcome.skipped(prompt.requestId(), prompt.id(), "pair", "gap-below-minimum"));
        }
    }
}
