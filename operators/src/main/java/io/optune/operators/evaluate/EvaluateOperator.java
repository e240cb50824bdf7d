package io.optune.operators.evaluate;

import io.optune.operators.metrics.NewestValues;
import io.optune.operators.records.PolicyUpdate;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.ProcessingTimeService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Locale;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Step 8 (built-in task only), evaluate: scores published versions on the held-out set, beside the
 * trainer rather than on its thread, so training never waits for an evaluation and its time is not
 * training time. Emits each evaluated version with its {@code heldOutReward}, and exposes it as the
 * {@code heldOutReward} / {@code heldOutVersion} gauges.
 *
 * <p>Evaluation runs on a thread of its own and always takes the newest version that arrived: when
 * versions come faster than they can be evaluated, the ones in between are skipped (counted in
 * {@code heldOutVersionsSkipped}), so the work never queues up. Results are handed back to the task
 * thread by a timer of the operator's own (not a keyed timer: nothing here is state, and a keyed timer
 * every 200 ms left RocksDB a stream of timer entries and tombstones whose files and size grew with the
 * run). Nothing is checkpointed: an evaluation in progress at a failure is simply not reported, and the
 * next version is evaluated as usual.
 */
public class EvaluateOperator extends AbstractStreamOperator<PolicyUpdate>
        implements OneInputStreamOperator<PolicyUpdate, PolicyUpdate>, ProcessingTimeService.ProcessingTimeCallback {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(EvaluateOperator.class);

    /**
     * Accumulator: {@code "version,reward"} per evaluated version, the newest {@value #MAX_ACCUMULATED} (the
     * embedded runner reads it every progress interval and keeps every one it sees).
     */
    public static final String ACC_HELD_OUT = "heldOutRewards";
    static final int MAX_ACCUMULATED = 4096;
    static final long DRAIN_INTERVAL_MS = 200;

    private final HeldOutEvaluation evaluation;

    private transient ExecutorService executor;
    private transient AtomicReference<PolicyUpdate> pending;
    private transient AtomicBoolean running;
    private transient Queue<PolicyUpdate> done;
    private transient NewestValues<String> accumulated;
    private transient Counter skipped;
    private transient Counter failures;
    private transient volatile double lastReward;
    private transient volatile long lastVersion;
    private transient long timerAt;

    public EvaluateOperator(HeldOutEvaluation evaluation) {
        this.evaluation = java.util.Objects.requireNonNull(evaluation);
    }

    @Override
    public void open() throws Exception {
        super.open();
        executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "held-out-evaluation");
            t.setDaemon(true);
            return t;
        });
        pending = new AtomicReference<>();
        running = new AtomicBoolean();
        done = new ConcurrentLinkedQueue<>();
        lastReward = Double.NaN;
        lastVersion = -1;
        timerAt = -1;
        var group = getMetricGroup();
        group.gauge("heldOutReward", () -> lastReward);
        group.gauge("heldOutVersion", () -> lastVersion);
        skipped = group.counter("heldOutVersionsSkipped");
        failures = group.counter("heldOutEvaluationFailures");
        getRuntimeContext().addAccumulator(ACC_HELD_OUT, accumulated = new NewestValues<>(MAX_ACCUMULATED));
    }

    @Override
    public void processElement(StreamRecord<PolicyUpdate> element) {
        PolicyUpdate update = element.getValue();
        PolicyUpdate before = pending.getAndAccumulate(update, (a, b) -> a == null || b.version() > a.version() ? b : a);
        if (before != null) {
            skipped.inc();
        }
        if (running.compareAndSet(false, true)) {
            executor.execute(this::evaluatePending);
        }
        scheduleDrain();
    }

    /** On the evaluation thread: the newest pending version, until none is left. */
    private void evaluatePending() {
        while (true) {
            PolicyUpdate u = pending.getAndSet(null);
            if (u == null) {
                running.set(false);
                // A version may have arrived between the empty read and the flag: take it, unless its sender did.
                if (pending.get() == null || !running.compareAndSet(false, true)) {
                    return;
                }
                continue;
            }
            try {
                double r = evaluation.evaluate(u);
                if (!Double.isNaN(r)) { // NaN: pruned before it could be read, newer versions are coming
                    done.add(new PolicyUpdate(u.version(), u.step(), u.location(), u.sha256(), u.publishedAt(), u.loss(),
                            u.margin(), u.logRatioMean(), u.reward(), u.freshFraction(), r));
                }
            } catch (Exception e) {
                failures.inc();
                LOG.warn("Held-out evaluation of policy version {} failed: {}", u.version(), e.toString());
            }
        }
    }

    @Override
    public void onProcessingTime(long time) {
        timerAt = -1;
        PolicyUpdate r;
        while ((r = done.poll()) != null) {
            lastReward = r.heldOutReward();
            lastVersion = r.version();
            accumulated.add(String.format(Locale.ROOT, "%d,%.6f", r.version(), r.heldOutReward()));
            LOG.info("Policy version {} (step {}): held-out gold reward {}", r.version(), r.step(),
                    String.format(Locale.ROOT, "%.3f", r.heldOutReward()));
            output.collect(new StreamRecord<>(r));
        }
        if (running.get() || pending.get() != null) {
            scheduleDrain();
        }
    }

    private void scheduleDrain() {
        if (timerAt < 0) {
            ProcessingTimeService time = getProcessingTimeService();
            timerAt = time.getCurrentProcessingTime() + DRAIN_INTERVAL_MS;
            time.registerTimer(timerAt, this);
        }
    }

    @Override
    public void close() throws Exception {
        if (executor != null) {
            executor.shutdownNow();
            executor.awaitTermination(30, TimeUnit.SECONDS);
        }
        super.close();
    }
}
