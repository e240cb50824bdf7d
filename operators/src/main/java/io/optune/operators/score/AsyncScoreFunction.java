package io.optune.operators.score;

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
import org.apache.flink.streaming.api.functions.async.AsyncRetryStrategy;
import org.apache.flink.streaming.api.functions.async.ResultFuture;
import org.apache.flink.streaming.api.functions.async.RichAsyncFunction;
import org.apache.flink.streaming.util.retryable.AsyncRetryStrategies;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Step 4, score, against a remote reward service: Flink async I/O, so the operator thread never waits
 * on the network. Each generation joins a batch ({@link RewardBatcher}: up to N responses or T ms per
 * request, a bounded number of requests in flight); its {@link ResultFuture} completes when that
 * batch's answer arrives. Failures complete with a {@link ScoreResult} dead letter, marked retriable
 * for {@link #retryStrategy}; the operator's timeout completes with {@code reward-http-timeout}
 * instead of failing the job. Generations in flight are part of the async operator's checkpoint and
 * are sent again after a restore.
 */
public class AsyncScoreFunction extends RichAsyncFunction<Generation, ScoreResult> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(AsyncScoreFunction.class);

    private final HttpRewardConfig config;

    private transient HttpRewardClient client;
    private transient RewardBatcher<HttpRewardClient.Item, HttpRewardClient.Scores> batcher;
    private transient ScheduledExecutorService timer;
    private transient Map<Generation, Boolean> seen;
    private transient Counter requests;
    private transient Counter failedRequests;
    private transient Counter timeouts;
    private transient Counter retries;
    private transient Counter nonFinite;
    private transient Histogram batchSize;
    private transient Histogram latencyMs;

    public AsyncScoreFunction(HttpRewardConfig config) {
        this.config = config;
    }

    /**
     * Flink's exponential backoff, retrying results marked retriable (5xx, 429, timeouts, refused or
     * broken connections, malformed answers), never 4xx or wrong-length answers.
     *
     * @param attempts total attempts per generation, the first included
     */
    public static AsyncRetryStrategy<ScoreResult> retryStrategy(int attempts, Duration initialBackoff, Duration maxBackoff) {
        if (attempts < 1) {
            throw new IllegalArgumentException("attempts must be >= 1");
        }
        // Flink counts retries after the first attempt.
        return new AsyncRetryStrategies.ExponentialBackoffDelayRetryStrategyBuilder<ScoreResult>(attempts - 1,
                initialBackoff.toMillis(), maxBackoff.toMillis(), 2.0)
                .ifResult(new AnyRetriable())
                .build();
    }

    /** The retry predicate (the strategy ships with the job graph: no lambdas). */
    private static final class AnyRetriable implements java.util.function.Predicate<java.util.Collection<ScoreResult>>, java.io.Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean test(java.util.Collection<ScoreResult> results) {
            return results != null && results.stream().anyMatch(ScoreResult::retriable);
        }
    }

    /** The async operator's timeout: every attempt timing out, plus the backoffs between them. */
    public static Duration operatorTimeout(HttpRewardConfig config, int attempts, Duration maxBackoff) {
        return config.requestTimeout().plus(config.batchMaxDelay()).plus(maxBackoff).multipliedBy(attempts).plusSeconds(5);
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        var group = getRuntimeContext().getMetricGroup();
        requests = group.counter("rewardHttpRequests");
        group.meter("rewardHttpRequestsPerSecond", new MeterView(requests));
        failedRequests = group.counter("rewardHttpFailedRequests");
        timeouts = group.counter("rewardHttpTimeouts");
        retries = group.counter("rewardHttpRetries");
        nonFinite = group.counter("nonFiniteRewards");
        batchSize = group.histogram("rewardHttpBatchResponses", new DescriptiveStatisticsHistogram(1000));
        latencyMs = group.histogram("rewardHttpLatencyMs", new DescriptiveStatisticsHistogram(1000));
        client = new HttpRewardClient(config, (n, nanos, err) -> {
            requests.inc();
            batchSize.update(n);
            latencyMs.update(TimeUnit.NANOSECONDS.toMillis(nanos));
            if (err != null) {
                failedRequests.inc();
                if ("reward-http-timeout".equals(err.reason())) {
                    timeouts.inc();
                }
            }
        });
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "reward-http-batcher");
            t.setDaemon(true);
            return t;
        });
        batcher = new RewardBatcher<>(client::score, config.batchMaxResponses(), config.batchMaxDelay().toMillis(),
                config.maxInFlight(), timer);
        group.gauge("rewardHttpInFlight", batcher::inFlight);
        group.gauge("rewardHttpQueued", batcher::queued);
        // Flink's retry hands the same element object back to asyncInvoke: seeing it again is a retry.
        seen = Collections.synchronizedMap(new WeakHashMap<>());
        LOG.info("Scoring with the remote reward service {}", config);
    }

    @Override
    public void asyncInvoke(Generation g, ResultFuture<ScoreResult> resultFuture) {
        if (seen.put(g, Boolean.TRUE) != null) {
            retries.inc();
        }
        Prompt prompt = g.request().prompt();
        if (config.protocol() == HttpRewardConfig.Protocol.TEI && prompt.isChat()) {
            resultFuture.complete(List.of(ScoreResult.failed(DeadLetter.of(prompt, "score", ScoreFunction.UNSCORABLE,
                    "the TEI protocol scores (prompt text, response) pairs; this prompt is chat messages"), false)));
            return;
        }
        HttpRewardClient.Item item = new HttpRewardClient.Item(prompt.id(), prompt.isChat() ? null : prompt.text(),
                prompt.isChat() ? prompt.messages() : null,
                java.util.Arrays.stream(g.responses()).map(SampledResponse::text).toList());
        batcher.submit(item).whenComplete((scores, err) -> {
            ScoreResult r;
            if (err != null) {
                r = failure(g, err);
            } else if (scores.error() != null) {
                r = failure(g, scores.error());
            } else {
                r = scored(g, scores.values());
            }
            resultFuture.complete(List.of(r));
        });
    }

    @Override
    public void timeout(Generation g, ResultFuture<ScoreResult> resultFuture) {
        timeouts.inc();
        resultFuture.complete(List.of(ScoreResult.failed(DeadLetter.of(g.request().prompt(), "score", "reward-http-timeout",
                "no score from " + config.url() + " within the scoring timeout, retries included"), false)));
    }

    private ScoreResult failure(Generation g, Throwable err) {
        RewardHttpException e = err instanceof RewardHttpException ? (RewardHttpException) err
                : new RewardHttpException("reward-http-error", false, String.valueOf(err.getMessage()), err);
        return ScoreResult.failed(DeadLetter.of(g.request().prompt(), "score", e.reason(), e.getMessage()), e.retriable());
    }

    /** Drops responses with a non-finite score; fewer than two left is a dead letter (nothing to pair). */
    private ScoreResult scored(Generation g, double[] rewards) {
        nonFinite.inc(ScoredGeneration.countNonFinite(rewards)); // the client checked the count
        return ScoreResult.ofRewards(g, rewards, config.url().toString());
    }

    @Override
    public void close() throws Exception {
        if (batcher != null) {
            batcher.close();
        }
        if (timer != null) {
            timer.shutdownNow();
        }
        if (client != null) {
            client.close();
        }
    }
}
