package io.optune.operators.batch;

import io.optune.operators.records.PreferenceBatch;
import io.optune.operators.records.PreferencePair;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import java.util.ArrayList;
import java.util.List;

/**
 * Step 6, batch: groups pairs into training batches of {@code batchSize}, or fewer when the oldest
 * buffered pair has waited {@code maxDelayMs} (a processing-time timer), so a slow trickle still
 * trains. The buffer and the timer are keyed state, hence checkpointed: no pair is lost on failure.
 * Keyed by a constant (one batcher feeding the single trainer).
 */
public class BatchFunction extends KeyedProcessFunction<Integer, PreferencePair, PreferenceBatch> {
    private static final long serialVersionUID = 1L;

    /** State names are part of the savepoint layout: never rename. */
    /** "-v2": pairs carry token ids (a layout-1 buffer of texts is not read back). */
    static final String BUFFER_STATE = "pair-buffer-v2";
    static final String COUNT_STATE = "pair-count";
    static final String TIMER_STATE = "flush-timer";

    private final int batchSize;
    private final long maxDelayMs;

    private transient ListState<PreferencePair> buffer;
    private transient ValueState<Integer> count;
    private transient ValueState<Long> timer;

    public BatchFunction(int batchSize, long maxDelayMs) {
        if (batchSize < 1 || maxDelayMs < 1) {
            throw new IllegalArgumentException("batchSize and maxDelayMs must be positive");
        }
        this.batchSize = batchSize;
        this.maxDelayMs = maxDelayMs;
    }

    @Override
    public void open(OpenContext openContext) {
        buffer = getRuntimeContext().getListState(new ListStateDescriptor<>(BUFFER_STATE, TypeInformation.of(PreferencePair.class)));
        count = getRuntimeContext().getState(new ValueStateDescriptor<>(COUNT_STATE, Types.INT));
        timer = getRuntimeContext().getState(new ValueStateDescriptor<>(TIMER_STATE, Types.LONG));
    }

    @Override
    public void processElement(PreferencePair pair, Context ctx, Collector<PreferenceBatch> out) throws Exception {
        buffer.add(pair);
        int n = (count.value() == null ? 0 : count.value()) + 1;
        count.update(n);
        if (n >= batchSize) {
            emit(ctx.timerService().currentProcessingTime(), out);
            Long t = timer.value();
            if (t != null) {
                ctx.timerService().deleteProcessingTimeTimer(t);
                timer.clear();
            }
        } else if (timer.value() == null) {
            long t = ctx.timerService().currentProcessingTime() + maxDelayMs;
            ctx.timerService().registerProcessingTimeTimer(t);
            timer.update(t);
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<PreferenceBatch> out) throws Exception {
        timer.clear();
        emit(timestamp, out);
    }

    private void emit(long now, Collector<PreferenceBatch> out) throws Exception {
        List<PreferencePair> pairs = new ArrayList<>();
        for (PreferencePair p : buffer.get()) {
            pairs.add(p);
        }
        buffer.clear();
        count.clear();
        if (!pairs.isEmpty()) {
            out.collect(new PreferenceBatch(pairs.toArray(new PreferencePair[0]), now));
        }
    }
}
