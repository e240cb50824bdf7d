package io.optune.operators.score;

import io.optune.engine.reward.RewardModel;
import io.optune.engine.reward.RewardQuery;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.faults.FaultInjection;
import io.optune.operators.records.Generation;
import io.optune.operators.records.Prompt;
import io.optune.operators.records.SampledResponse;
import io.optune.operators.records.ScoredGeneration;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Meter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Step 4, score: one batched reward-model call per generation (its K responses), with a timeout and
 * bounded retries. Responses with a non-finite score are dropped and counted; a generation left with
 * fewer than two scored responses, or whose scoring keeps failing, goes to {@link #DEAD_LETTERS}.
 *
 * <p>Metrics (operator scope): {@code rewardResponsesPerSecond} and {@code rewardRequestsPerSecond}
 * (meters), {@code rewardBatchSize} (responses per call) and {@code rewardLatencyMs} (per attempt,
 * failed ones included) as histograms with p50/p99, {@code rewardRetries}, {@code rewardTimeouts},
 * {@code deadLetters}, {@code rewardInFlight} (calls running now), {@code rewardModelFailures},
 * {@code nonFiniteRewards}, {@code unscorablePrompts}, {@code meanReward}.
 */
public class ScoreFunction extends ProcessFunction<Generation, ScoredGeneration> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(ScoreFunction.class);

    public static final OutputTag<DeadLetter> DEAD_LETTERS = new OutputTag<>("score-dead-letters") {};

    private final RewardModelFactory factory;
    private final Duration timeout;
    private final int maxAttempts;

    private transient RewardModel model;
    private transient ExecutorService executor;
    private transient Counter failures;
    private transient Counter nonFinite;
    private transient Counter deadLetters;
    private transient Counter unscorable;
    private transient Counter retries;
    private transient Counter timeouts;
    private transient Counter scoredResponses;
    private transient Counter requests;
    private transient Meter responsesPerSecond;
    private transient Meter requestsPerSecond;
    private transient Histogram batchSize;
    private transient Histogram latencyMs;
    private transient java.util.concurrent.atomic.AtomicInteger inFlight;
    private transient double rewardEma;
    private transient long unscorableCount;
    private transient long scoredCount;

    /** Dead-letter reason of a prompt the reward model cannot score (see {@link RewardModel#accepts()}). */
    public static final String UNSCORABLE = "unscorable-prompt";

    public ScoreFunction(RewardModelFactory factory, Duration timeout, int maxAttempts) {
        if (maxAttempts < 1 || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("maxAttempts >= 1 and a positive timeout required");
        }
        this.factory = factory;
        this.timeout = timeout;
        this.maxAttempts = maxAttempts;
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        model = factory.create();
        executor = newExecutor();
        var group = getRuntimeContext().getMetricGroup();
        failures = group.counter("rewardModelFailures");
        nonFinite = group.counter("nonFiniteRewards");
        deadLetters = group.counter("deadLetters");
        unscorable = group.counter("unscorablePrompts");
        rewardEma = Double.NaN;
        group.gauge("meanReward", () -> rewardEma);
        retries = group.counter("rewardRetries");
        timeouts = group.counter("rewardTimeouts");
        scoredResponses = group.counter("rewardResponses");
        requests = group.counter("rewardRequests");
        responsesPerSecond = group.meter("rewardResponsesPerSecond", new MeterView(scoredResponses, 10));
        requestsPerSecond = group.meter("rewardRequestsPerSecond", new MeterView(requests, 10));
        batchSize = group.histogram("rewardBatchSize", new DescriptiveStatisticsHistogram(500));
        latencyMs = group.histogram("rewardLatencyMs", new DescriptiveStatisticsHistogram(500));
        inFlight = new java.util.concurrent.atomic.AtomicInteger();
        group.gauge("rewardInFlight", inFlight::get);
    }

    @Override
    public void processElement(Generation g, Context ctx, Collector<ScoredGeneration> out) throws Exception {
        Prompt prompt = g.request().prompt();
        List<RewardQuery> queries = new ArrayList<>(g.responses().length);
        for (SampledResponse response : g.responses()) {
            // The text decoded at generation; the ids travel on untouched to training.
            queries.add(prompt.isChat()
                    ? RewardQuery.chat(prompt.messages(), response.text())
                    : RewardQuery.text(prompt.text(), response.text()));
        }
        Exception last = null;
        batchSize.update(queries.size());
        for (int attempt = 1; attempt <= maxAttempts; attempt++) {
            if (attempt > 1) {
                retries.inc();
            }
            requests.inc();
            long t0 = System.nanoTime();
            inFlight.incrementAndGet();
            Future<double[]> f = executor.submit(() -> {
                try {
                    return model.score(queries);
                } finally {
                    inFlight.decrementAndGet();
                }
            });
            try {
                double[] rewards = f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                latencyMs.update((System.nanoTime() - t0) / 1_000_000);
                scoredResponses.inc(queries.size());
                FaultInjection.check(FaultInjection.Point.SCORE);
                emit(g, rewards, ctx, out);
                return;
            } catch (TimeoutException e) {
                latencyMs.update((System.nanoTime() - t0) / 1_000_000);
                timeouts.inc();
                f.cancel(true);
                // A hung call may ignore the interrupt: give later calls a thread of their own.
                executor.shutdownNow();
                executor = newExecutor();
                last = e;
                failures.inc();
                warn(g, attempt, "timed out after " + timeout.toMillis() + " ms");
            } catch (java.util.concurrent.ExecutionException e) {
                latencyMs.update((System.nanoTime() - t0) / 1_000_000);
                last = (Exception) (e.getCause() instanceof Exception ? e.getCause() : e);
                failures.inc();
                if (last instanceof IllegalArgumentException) {
                    break; // bad input: retrying will not help
                }
                warn(g, attempt, String.valueOf(last.getMessage()));
            }
            if (attempt < maxAttempts) {
                Thread.sleep(Math.min(1000L, 50L << attempt));
            }
        }
        deadLetters.inc();
        String reason = last instanceof TimeoutException ? "reward-timeout"
                : last instanceof io.optune.engine.InvalidInputException ? ((io.optune.engine.InvalidInputException) last).reason()
                : "reward-error";
        ctx.output(DEAD_LETTERS, DeadLetter.of(g.request().prompt(), "score", reason,
                "reward model '" + model.name() + "' failed: " + (last == null ? "" : last.getMessage())));
        if (UNSCORABLE.equals(reason)) {
            unscorable.inc();
            unscorableCount++;
            if (shouldWarnUnscorable(unscorableCount)) {
                LOG.warn(unscorableWarning(model, unscorableCount, scoredCount, g.request().prompt().display()));
            }
        }
    }

    /** Warns at the 1st, 10th, 100th, ... unscorable prompt: early, and again while it keeps happening. */
    static boolean shouldWarnUnscorable(long count) {
        long p = 1;
        while (p < count) {
            p *= 10;
        }
        return p == count;
    }

    /** What the user must know when the reward model refuses prompts: which model, what it accepts, what to do. */
    static String unscorableWarning(RewardModel model, long unscorable, long scored, String example) {
        String shown = example.length() <= 40 ? example : example.substring(0, 40) + "...";
        return String.format("%d prompt(s) could not be scored (%d scored so far), e.g. '%s': the reward model '%s' "
                + "(optune.reward.type) accepts %s. They are dead-lettered with reason %s and nothing trains on "
                + "them. Choose a reward model that fits your prompts with optune.reward.type, or send prompts it "
                + "accepts (docs/ARCHITECTURE.md, 'Reward models').", unscorable, scored, shown, model.name(), model.accepts(),
                UNSCORABLE);
    }

    private static void warn(Generation g, int attempt, String what) {
        LOG.warn("Scoring prompt {} (attempt {}) failed: {}", g.request().prompt().id(), attempt, what);
    }

    private void emit(Generation g, double[] rewards, Context ctx, Collector<ScoredGeneration> out) {
        ScoreResult result;
        try {
            result = ScoreResult.ofRewards(g, rewards, "reward model '" + model.name() + "'");
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException(e.getMessage(), e); // a broken reward model, not bad input: retried, then dead-lettered
        }
        nonFinite.inc(ScoredGeneration.countNonFinite(rewards));
        if (!result.isScored()) {
            deadLetters.inc();
            ctx.output(DEAD_LETTERS, result.deadLetter());
            return;
        }
        ScoredGeneration scored = result.scored();
        for (double r : scored.rewards()) {
            rewardEma = Double.isNaN(rewardEma) ? r : 0.99 * rewardEma + 0.01 * r;
        }
        scoredCount++;
        out.collect(scored);
    }

    private static ExecutorService newExecutor() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "reward-model");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public void close() throws Exception {
        if (executor != null) {
            executor.shutdownNow();
            // Do not free a native model while a call may still run on it.
            executor.awaitTermination(5, TimeUnit.SECONDS);
        }
        if (model instanceof AutoCloseable) {
            ((AutoCloseable) model).close();
        }
    }
}
