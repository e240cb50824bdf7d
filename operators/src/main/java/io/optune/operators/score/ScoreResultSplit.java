package io.optune.operators.score;

import io.optune.operators.faults.FaultInjection;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.ScoredGeneration;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/** After the async scorer: scored generations go on, failures to {@link #DEAD_LETTERS} with their reason. */
public class ScoreResultSplit extends ProcessFunction<ScoreResult, ScoredGeneration> {
    private static final long serialVersionUID = 1L;

    public static final OutputTag<DeadLetter> DEAD_LETTERS = new OutputTag<>("reward-http-dead-letters") {};

    private transient Counter deadLetters;

    @Override
    public void open(OpenContext openContext) {
        deadLetters = getRuntimeContext().getMetricGroup().counter("deadLetters");
    }

    @Override
    public void processElement(ScoreResult r, Context ctx, Collector<ScoredGeneration> out) {
        if (r.isScored()) {
            FaultInjection.check(FaultInjection.Point.SCORE);
            out.collect(r.scored());
        } else {
            deadLetters.inc();
            ctx.output(DEAD_LETTERS, r.deadLetter());
        }
    }
}
