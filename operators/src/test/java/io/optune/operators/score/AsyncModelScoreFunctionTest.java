package io.optune.operators.score;

import io.optune.engine.InvalidInputException;
import io.optune.engine.reward.RewardModel;
import io.optune.engine.reward.RewardQuery;
import io.optune.operators.records.Generation;
import io.optune.operators.records.SampledResponse;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static io.optune.operators.score.AsyncScoreFunctionTest.run;
import static io.optune.operators.score.AsyncScoreFunctionTest.text;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * An in-job reward model inside Flink's async operator, on a mini cluster: forward passes shared by
 * several generations, run one at a time off the operator thread, and how each failure ends.
 */
class AsyncModelScoreFunctionTest {
    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension();

    /** Scores a response by its length; records each call; fails or stalls on cue. JVM-wide: the mini cluster runs here. */
    static final class TestModel implements RewardModel {
        static final List<Integer> CALLS = new CopyOnWriteArrayList<>();
        static final AtomicInteger FAIL_CALLS = new AtomicInteger();
        static final AtomicInteger CONCURRENT = new AtomicInteger();
        static final AtomicInteger MAX_CONCURRENT = new AtomicInteger();
        static volatile long stallMs;

        static void reset() {
            CALLS.clear();
            FAIL_CALLS.set(0);
            MAX_CONCURRENT.set(0);
            stallMs = 0;
        }

        @Override
        public double[] score(List<RewardQuery> queries) {
            MAX_CONCURRENT.accumulateAndGet(CONCURRENT.incrementAndGet(), Math::max);
            try {
                CALLS.add(queries.size());
                if (stallMs > 0) {
                    Thread.sleep(stallMs);
                }
                if (FAIL_CALLS.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                    throw new IllegalStateException("CUDA error: device-side assert (test)");
                }
                double[] out = new double[queries.size()];
                for (int i = 0; i < out.length; i++) {
                    if (queries.get(i).prompt().contains("unscorable")) {
                        throw new InvalidInputException(ScoreFunction.UNSCORABLE, "not a prompt this model knows");
                    }
                    String r = queries.get(i).response();
                    out[i] = r.equals("nan") ? Double.NaN : r.length();
                }
                return out;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            } finally {
                CONCURRENT.decrementAndGet();
            }
        }

        @Override
        public String name() {
            return "test-model";
        }
    }

    @BeforeEach
    void reset() {
        TestModel.reset();
    }

    private static AsyncModelScoreFunction function(int batch, long delayMs) {
        return new AsyncModelScoreFunction(TestModel::new, batch, Duration.ofMillis(delayMs));
    }

    private static List<Generation> generations(int n) {
        List<Generation> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(text("p" + i, "a", "bb", "ccc", "dddd"));
        }
        return out;
    }

    @Test
    void generationsShareForwardPassesOneAtATimeAndEachGetsItsScores() throws Exception {
        List<ScoreResult> out = run(function(8, 200), 3, Duration.ofSeconds(30), generations(6));
        assertThat(out).hasSize(6).allSatisfy(r -> {
            assertThat(r.isScored()).isTrue();
            assertThat(r.scored().rewards()).containsExactly(1, 2, 3, 4);
        });
        // 24 responses in passes of up to 8: two generations per pass, never one alone (the delay is long enough).
        assertThat(TestModel.CALLS).allSatisfy(n -> assertThat(n).isEqualTo(8));
        assertThat(TestModel.CALLS.stream().mapToInt(Integer::intValue).sum()).isEqualTo(24);
        assertThat(TestModel.MAX_CONCURRENT.get()).as("forward passes at once").isEqualTo(1);
    }

    @Test
    void anUnscorablePromptIsDeadLetteredWithoutItsBatchMates() throws Exception {
        List<Generation> in = new ArrayList<>(generations(3));
        in.add(text("unscorable", "a", "bb"));
        List<ScoreResult> out = run(function(64, 200), 3, Duration.ofSeconds(30), in);
        assertThat(out).hasSize(4);
        assertThat(out.stream().filter(ScoreResult::isScored)).hasSize(3);
        ScoreResult refused = out.stream().filter(r -> !r.isScored()).findFirst().orElseThrow();
        assertThat(refused.deadLetter().reason()).isEqualTo(ScoreFunction.UNSCORABLE);
        assertThat(refused.deadLetter().promptId()).isEqualTo("unscorable");
        assertThat(refused.deadLetter().detail()).contains("test-model");
    }

    @Test
    void aFailingCallIsRetriedAndThenScores() throws Exception {
        TestModel.FAIL_CALLS.set(1);
        List<ScoreResult> out = run(function(4, 10), 3, Duration.ofSeconds(30), generations(1));
        assertThat(out).hasSize(1);
        assertThat(out.get(0).isScored()).isTrue();
        assertThat(TestModel.CALLS).hasSize(2);
    }

    @Test
    void aCallThatKeepsFailingEndsAsADeadLetterAfterItsAttempts() throws Exception {
        TestModel.FAIL_CALLS.set(100);
        List<ScoreResult> out = run(function(4, 10), 2, Duration.ofSeconds(30), generations(1));
        assertThat(out).hasSize(1);
        assertThat(out.get(0).deadLetter().reason()).isEqualTo("reward-error");
        assertThat(out.get(0).deadLetter().detail()).contains("device-side assert");
        assertThat(TestModel.CALLS).hasSize(2);
    }

    @Test
    void theOperatorTimeoutEndsAStalledModelAsADeadLetterNotAJobFailure() throws Exception {
        TestModel.stallMs = 3000;
        List<ScoreResult> out = run(function(4, 10), 1, Duration.ofMillis(500), generations(1));
        assertThat(out).hasSize(1);
        assertThat(out.get(0).deadLetter().reason()).isEqualTo("reward-timeout");
    }

    @Test
    void nonFiniteScoresDropTheirResponsesAndTooFewLeftIsADeadLetter() throws Exception {
        List<ScoreResult> out = run(function(16, 100), 2, Duration.ofSeconds(30),
                List.of(text("three", "nan", "bb", "ccc"), text("two", "nan", "bb")));
        ScoreResult three = out.stream().filter(ScoreResult::isScored).findFirst().orElseThrow();
        assertThat(three.scored().generation().responses()).extracting(SampledResponse::text).containsExactly("bb", "ccc");
        ScoreResult two = out.stream().filter(r -> !r.isScored()).findFirst().orElseThrow();
        assertThat(two.deadLetter().reason()).isEqualTo("non-finite-reward");
    }
}
