package io.optune.operators.batch;

import io.optune.operators.records.PreferenceBatch;
import io.optune.operators.records.PreferencePair;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.ProcessingTimeService;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledFuture;

/**
 * Step 6, batch: groups pairs into training batches of {@code batchSize}, or fewer when the oldest
 * buffered pair has waited {@code maxDelayMs}, so a slow trickle still trains. The buffer and its
 * deadline are keyed state (the input is keyed by one constant: one batcher feeds the single trainer),
 * hence checkpointed: no pair is lost on failure.
 *
 * <p>The deadline is woken by a timer of the operator's own, not a keyed timer. A keyed timer is a
 * RocksDB entry with an ascending key, set and deleted for every batch (tens a second); RocksDB moves
 * such files down without merging them, and over a long run the step's SST file count kept rising
 * (docs/BENCHMARKS.md 9b). On restore the timer is set again from the deadline in state.
 */
public class BatchOperator extends AbstractStreamOperator<PreferenceBatch>
        implements OneInputStreamOperator<PreferencePair, PreferenceBatch>, ProcessingTimeService.ProcessingTimeCallback {
    private static final long serialVersionUID = 1L;

    /** The one key the input is keyed by; the state below lives under it. */
    public static final Integer KEY = 0;

    /**
     * State names are part of the savepoint layout: never rename. "-v2": pairs carry token ids (a layout-1
     * buffer of texts is not read back). Earlier layouts also kept a {@code pair-count} value and a keyed
     * timer; both are left unread (the count is the buffer's length; the deadline wakes the new timer).
     */
    static final String BUFFER_STATE = "pair-buffer-v2";
    static final String DEADLINE_STATE = "flush-timer";

    private final int batchSize;
    private final long maxDelayMs;

    private transient ListState<PreferencePair> buffer;
    private transient ValueState<Long> deadline;
    private transient int buffered;
    private transient ScheduledFuture<?> wakeUp;

    public BatchOperator(int batchSize, long maxDelayMs) {
        if (batchSize < 1 || maxDelayMs < 1) {
            throw new IllegalArgumentException("batchSize and maxDelayMs must be positive");
        }
        this.batchSize = batchSize;
        this.maxDelayMs = maxDelayMs;
    }

    @Override
    public void open() throws Exception {
        super.open();
        buffer = getKeyedStateStore().getListState(new ListStateDescriptor<>(BUFFER_STATE, TypeInformation.of(PreferencePair.class)));
        deadline = getKeyedStateStore().getState(new ValueStateDescriptor<>(DEADLINE_STATE, Types.LONG));
        setCurrentKey(KEY);
        buffered = 0;
        for (PreferencePair ignored : buffer.get()) {
            buffered++;
        }
        if (buffered > 0) { // restored: flush at the deadline the buffer had (at once, if it has passed)
            Long at = deadline.value();
            if (at == null) {
                at = getProcessingTimeService().getCurrentProcessingTime();
                deadline.update(at);
            }
            scheduleAt(at);
        }
    }

    @Override
    public void processElement(StreamRecord<PreferencePair> element) throws Exception {
        buffer.add(element.getValue());
        buffered++;
        long now = getProcessingTimeService().getCurrentProcessingTime();
        if (buffered >= batchSize) {
            emit(now);
        } else if (buffered == 1) {
            long at = now + maxDelayMs;
            deadline.update(at);
            scheduleAt(at);
        }
    }

    @Override
    public void onProcessingTime(long time) throws Exception {
        setCurrentKey(KEY);
        Long at = deadline.value();
        // A wake-up whose batch was already closed by size can still arrive (cancelled after its mail was
        // queued): the buffer now has a later deadline and a wake-up of its own.
        if (buffered > 0 && at != null && time >= at) {
            wakeUp = null;
            emit(time);
        }
    }

    /**
     * The input ended (a bounded source, or a stop with {@code --drain}): the last partial batch trains
     * too, rather than staying in a buffer no timer will flush. (A stop-with-savepoint does not finish
     * operators: the savepoint keeps the buffer.)
     */
    @Override
    public void finish() throws Exception {
        setCurrentKey(KEY);
        if (buffered > 0) {
            emit(getProcessingTimeService().getCurrentProcessingTime());
        }
        super.finish();
    }

    private void scheduleAt(long at) {
        wakeUp = getProcessingTimeService().registerTimer(at, this);
    }

    private void emit(long now) throws Exception {
        List<PreferencePair> pairs = new ArrayList<>(buffered);
        for (PreferencePair p : buffer.get()) {
            pairs.add(p);
        }
        buffer.clear();
        deadline.clear();
        buffered = 0;
        if (wakeUp != null) {
            wakeUp.cancel(false);
            wakeUp = null;
        }
        if (!pairs.isEmpty()) {
            output.collect(new StreamRecord<>(new PreferenceBatch(pairs.toArray(new PreferencePair[0]), now)));
        }
    }
}
