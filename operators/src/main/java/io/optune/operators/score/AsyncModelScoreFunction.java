package io.optune.operators.score;

import io.optune.engine.InvalidInputException;
import io.optune.engine.reward.RewardModel;
import io.optune.engine.reward.RewardQuery;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.Generation;
import io.optune.operators.records.Prompt;
import io.optune.operators.records.SampledResponse;
import io.optune.operators.records.ScoredGeneration;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.streaming.api.functions.async.ResultFuture;
import org.apache.flink.streaming.api.functions.async.RichAsyncFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Step 4, score, with a learned reward model inside the job (a Hugging Face reward checkpoint, or the
 * neural Bradley-Terry model), through Flink async I/O like the remote service: the responses of
 * several generations share one forward pass ({@link RewardBatcher}: up to N responses or T ms per
 * call), the passes run one at a time on the model's own thread, and the operator thread never waits
 * for them, so checkpoint barriers pass a slow model. Generations waiting for their scores are part of
 * the async operator's checkpoint and are scored again after a restore.
 *
 * <p>Failures complete with a {@link ScoreResult} dead letter: an unscorable prompt or bad input at
 * once ({@link InvalidInputException}'s reason), a failing model call marked retriable for
 * {@link AsyncScoreFunction#retryStrategy}, the operator's timeout as {@code reward-timeout}. One
 * unscorable prompt does not fail its batch-mates: a batch that fails on input is scored again item by
 * item.
 *
 * <p>Metrics (operator scope) as the synchronous {@link ScoreFunction}'s: {@code rewardRequests} (model
 * calls) and {@code rewardRequestsPerSecond}, {@code rewardResponses} and
 * {@code rewardResponsesPerSecond}, {@code rewardBatchSize} (responses per call) and
 * {@code rewardLatencyMs} histograms, {@code rewardRetries}, {@code rewardTimeouts},
 * {@code rewardModelFailures}, {@code rewardInFlight}, {@code rewardQueued} (generations waiting for
 * a call), {@code nonFiniteRewards}, {@code unscorablePrompts}, {@code meanReward}.
 */
public class AsyncModelScoreFunction extends RichAsyncFunction<Generation, ScoreResult> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(AsyncModelScoreFunction.class);

    private final RewardModelFactory factory;
    private final int batchResponses;
    private final Duration batchDelay;

    private transient RewardModel model;
    private transient ExecutorService modelThread;
    private transient ScheduledExecutorService timer;
    private transient RewardBatcher<Item, Scores> batcher;
    private transient Map<Generation, Boolean> seen;
    private transient Counter requests;
    private transient Counter responses;
    private transient Counter retries;
    private transient Counter timeouts;
    private transient Counter failures;
    private transient Counter nonFinite;
    private transient Counter unscorable;
    private transient Histogram batchSize;
    private transient Histogram latencyMs;
    private transient volatile double rewardEma;

    /** One generation's queries. */
    record Item(List<RewardQuery> queries) implements RewardBatcher.Sized {
        @Override
        public int responseCount() {
            return queries.size();
        }
    }

    /** One item's scores, or why it has none. */
    record Scores(double[] values, RuntimeException error) {}

    /**
     * @param batchResponses responses per model call (the reward model's forward-pass batch)
     * @param batchDelay how long a partial batch waits for more generations
     */
    public AsyncModelScoreFunction(RewardModelFactory factory, int batchResponses, Duration batchDelay) {
        if (batchResponses < 1 || batchDelay.isNegative()) {
            throw new IllegalArgumentException("batchResponses >= 1 and a batch delay >= 0 required");
        }
        this.factory = factory;
        this.batchResponses = batchResponses;
        this.batchDelay = batchDelay;
    }

    /**
     * The async operator's timeout for one generation: per attempt, the calls it may queue behind (a
     * full operator, {@code capacity} generations of {@code k} responses, in calls of
     * {@code batchResponses}) each within {@code callTimeout}, plus the batch delay and the backoff.
     */
    public static Duration operatorTimeout(Duration callTimeout, Duration batchDelay, int capacity, int k, int batchResponses,
            int attempts, Duration maxBackoff) {
        long calls = Math.max(1, ((long) capacity * k + batchResponses - 1) / batchResponses);
        return callTimeout.multipliedBy(calls).plus(batchDelay).plus(maxBackoff).multipliedBy(attempts);
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        model = factory.create();
        var group = getRuntimeContext().getMetricGroup();
        requests = group.counter("rewardRequests");
        group.meter("rewardRequestsPerSecond", new MeterView(requests, 10));
        responses = group.counter("rewardResponses");
        group.meter("rewardResponsesPerSecond", new MeterView(responses, 10));
        retries = group.counter("rewardRetries");
        timeouts = group.counter("rewardTimeouts");
        failures = group.counter("rewardModelFailures");
        nonFinite = group.counter("nonFiniteRewards");
        unscorable = group.counter("unscorablePrompts");
        batchSize = group.histogram("rewardBatchSize", new DescriptiveStatisticsHistogram(500));
        latencyMs = group.histogram("rewardLatencyMs", new DescriptiveStatisticsHistogram(500));
        rewardEma = Double.NaN;
        group.gauge("meanReward", () -> rewardEma);
        modelThread = Executors.newSingleThreadExecutor(r -> daemon(r, "reward-model"));
        timer = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "reward-batcher"));
        // One call at a time: a model instance is not safe for concurrent forward passes.
        batcher = new RewardBatcher<>(this::scoreBatch, batchResponses, batchDelay.toMillis(), 1, timer);
        group.gauge("rewardInFlight", batcher::inFlight);
        group.gauge("rewardQueued", batcher::queued);
        seen = Collections.synchronizedMap(new WeakHashMap<>());
        LOG.info("Scoring with the in-job reward model '{}' through async I/O, {} responses per call (or {} ms)", model.name(),
                batchResponses, batchDelay.toMillis());
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    @Override
    public void asyncInvoke(Generation g, ResultFuture<ScoreResult> resultFuture) {
        if (seen.put(g, Boolean.TRUE) != null) {
            retries.inc(); // Flink's retry hands the same element object back
        }
        Prompt prompt = g.request().prompt();
        List<RewardQuery> queries = new ArrayList<>(g.responses().length);
        for (SampledResponse response : g.responses()) {
            // The text decoded at generation; the ids travel on untouched to training.
            queries.add(prompt.isChat() ? RewardQuery.chat(prompt.messages(), response.text()) : RewardQuery.text(prompt.text(), response.text()));
        }
        batcher.submit(new Item(queries)).whenComplete((s, err) -> resultFuture.complete(List.of(result(g, s, err))));
    }

    /** On the model thread: one forward call for the batch; on bad input, one per item so the others still score. */
    private CompletableFuture<List<Scores>> scoreBatch(List<Item> items) {
        return CompletableFuture.supplyAsync(() -> {
            List<RewardQuery> all = new ArrayList<>();
            items.forEach(i -> all.addAll(i.queries()));
            try {
                double[] values = call(all);
                List<Scores> out = new ArrayList<>(items.size());
                int at = 0;
                for (Item i : items) {
                    double[] v = new double[i.responseCount()];
                    System.arraycopy(values, at, v, 0, v.length);
                    at += v.length;
                    out.add(new Scores(v, null));
                }
                return out;
            } catch (IllegalArgumentException e) {
                if (items.size() == 1) {
                    return List.of(new Scores(null, e));
                }
                List<Scores> out = new ArrayList<>(items.size());
                for (Item i : items) {
                    try {
                        out.add(new Scores(call(i.queries()), null));
                    } catch (RuntimeException each) {
                        out.add(new Scores(null, each));
                    }
                }
                return out;
            } catch (RuntimeException e) {
                List<Scores> out = new ArrayList<>(items.size());
                items.forEach(i -> out.add(new Scores(null, e)));
                return out;
            }
        }, modelThread);
    }

    private double[] call(List<RewardQuery> queries) {
        requests.inc();
        batchSize.update(queries.size());
        long t0 = System.nanoTime();
        try {
            double[] values = model.score(queries);
            if (values.length != queries.size()) {
                throw new IllegalStateException("the reward model returned " + values.length + " scores for " + queries.size() + " responses");
            }
            responses.inc(queries.size());
            return values;
        } catch (RuntimeException e) {
            failures.inc();
            throw e;
        } finally {
            latencyMs.update(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        }
    }

    private ScoreResult result(Generation g, Scores s, Throwable err) {
        Prompt prompt = g.request().prompt();
        Throwable e = err != null ? err : s.error();
        if (e != null) {
            if (e instanceof InvalidInputException bad) {
                if (ScoreFunction.UNSCORABLE.equals(bad.reason())) {
                    unscorable.inc();
                }
                return ScoreResult.failed(DeadLetter.of(prompt, "score", bad.reason(), "reward model '" + model.name() + "' refused it: "
                        + bad.getMessage() + " (it accepts " + model.accepts() + ")"), false);
            }
            boolean retriable = !(e instanceof IllegalArgumentException);
            LOG.warn("Scoring prompt {} failed{}: {}", prompt.id(), retriable ? " (retried while attempts remain)" : "", e.toString());
            return ScoreResult.failed(DeadLetter.of(prompt, "score", "reward-error",
                    "reward model '" + model.name() + "' failed: " + e.getMessage()), retriable);
        }
        nonFinite.inc(ScoredGeneration.countNonFinite(s.values()));
        ScoreResult r = ScoreResult.ofRewards(g, s.values(), "reward model '" + model.name() + "'");
        if (r.isScored()) {
            for (double v : r.scored().rewards()) {
                rewardEma = Double.isNaN(rewardEma) ? v : 0.99 * rewardEma + 0.01 * v;
            }
        }
        return r;
    }

    @Override
    public void timeout(Generation g, ResultFuture<ScoreResult> resultFuture) {
        timeouts.inc();
        resultFuture.complete(List.of(ScoreResult.failed(DeadLetter.of(g.request().prompt(), "score", "reward-timeout",
                "no score from reward model '" + model.name() + "' within the scoring timeout, retries included"), false)));
    }

    @Override
    public void close() throws Exception {
        if (batcher != null) {
            batcher.close();
        }
        if (timer != null) {
            timer.shutdownNow();
        }
        if (modelThread != null) {
            modelThread.shutdownNow();
            // Do not free a native model while a forward pass may still run on it.
            modelThread.awaitTermination(30, TimeUnit.SECONDS);
        }
        if (model instanceof AutoCloseable c) {
            c.close();
        }
    }
}
