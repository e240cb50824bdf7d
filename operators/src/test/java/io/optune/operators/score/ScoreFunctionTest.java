package io.optune.operators.score;

import io.optune.engine.reward.GoldRewardModel;
import io.optune.engine.reward.RewardModel;
import io.optune.engine.reward.RewardQuery;
import io.optune.operators.OperatorTestSupport;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.Generation;
import io.optune.operators.records.SampledResponse;
import io.optune.operators.records.ScoredGeneration;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

class ScoreFunctionTest {
    static final AtomicInteger CALLS = new AtomicInteger();

    private static Generation generation(String prompt, String... responses) {
        return OperatorTestSupport.generation(OperatorTestSupport.request(prompt), 1, responses);
    }

    private static List<DeadLetter> deadLetters(OneInputStreamOperatorTestHarness<Generation, ScoredGeneration> h) {
        var q = h.getSideOutput(ScoreFunction.DEAD_LETTERS);
        return q == null ? List.of() : q.stream().map(StreamRecord::getValue).toList();
    }

    @Test
    void scoresAllResponsesOfAGenerationInOneCall() throws Exception {
        try (var h = ProcessFunctionTestHarnesses.forProcessFunction(
                new ScoreFunction(GoldRewardModel::new, Duration.ofSeconds(5), 2))) {
            h.processElement(generation("rev abc=", "cba", "cb", "abc"), 0L);
            ScoredGeneration s = h.extractOutputValues().get(0);
            assertThat(s.rewards()).containsExactly(new double[] {1.0, 2.0 / 3, 1.0 / 3}, org.assertj.core.api.Assertions.within(1e-9));
        }
    }

    /** Throws on the first call, then works. */
    static final class FlakyModel implements RewardModel {
        @Override
        public double[] score(List<RewardQuery> queries) {
            if (CALLS.getAndIncrement() == 0) {
                throw new IllegalStateException("transient outage");
            }
            return new GoldRewardModel().score(queries);
        }

        @Override
        public String name() {
            return "flaky";
        }
    }

    @Test
    void retriesATransientFailure() throws Exception {
        CALLS.set(0);
        try (var h = ProcessFunctionTestHarnesses.forProcessFunction(new ScoreFunction(FlakyModel::new, Duration.ofSeconds(5), 3))) {
            h.processElement(generation("copy ab=", "ab", "a"), 0L);
            assertThat(h.extractOutputValues()).hasSize(1);
            assertThat(CALLS.get()).isEqualTo(2);
        }
    }

    @Test
    void timeoutsAndPersistentErrorsAreDeadLettered() throws Exception {
        RewardModelFactory slow = () -> new RewardModel() {
            @Override
            public double[] score(List<RewardQuery> r) {
                try {
                    Thread.sleep(10_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return new double[r.size()];
            }

            @Override
            public String name() {
                return "slow";
            }
        };
        try (var h = ProcessFunctionTestHarnesses.forProcessFunction(new ScoreFunction(slow, Duration.ofMillis(50), 2))) {
            h.processElement(generation("copy ab=", "ab", "a"), 0L);
            assertThat(h.extractOutputValues()).isEmpty();
            assertThat(deadLetters(h)).extracting(DeadLetter::reason).containsExactly("reward-timeout");
        }
        try (var h = ProcessFunctionTestHarnesses.forProcessFunction(new ScoreFunction(GoldRewardModel::new, Duration.ofSeconds(1), 3))) {
            h.processElement(generation("tell me a joke", "no", "yes"), 0L); // the verifier cannot score it
            assertThat(deadLetters(h)).extracting(DeadLetter::reason).containsExactly("unscorable-prompt");
        }
    }

    @Test
    void nonFiniteRewardsAreDroppedAndAGenerationLeftWithoutAPairIsDeadLettered() throws Exception {
        RewardModelFactory nan = () -> new RewardModel() {
            @Override
            public double[] score(List<RewardQuery> q) {
                double[] out = new double[q.size()];
                for (int i = 0; i < out.length; i++) {
                    String r = q.get(i).response();
                    out[i] = r.equals("bad") ? Double.NaN : r.equals("inf") ? Double.POSITIVE_INFINITY : 0.5 + i;
                }
                return out;
            }

            @Override
            public String name() {
                return "nan";
            }
        };
        try (var h = ProcessFunctionTestHarnesses.forProcessFunction(new ScoreFunction(nan, Duration.ofSeconds(1), 1))) {
            h.processElement(generation("copy ab=", "x", "bad", "y"), 0L);
            h.processElement(generation("copy ab=", "bad", "inf", "z"), 0L);
            List<ScoredGeneration> out = h.extractOutputValues();
            assertThat(out).hasSize(1);
            assertThat(out.get(0).generation().responses()).extracting(SampledResponse::text).containsExactly("x", "y");
            // The ids and the prompt ids travel on with the kept responses.
            assertThat(out.get(0).generation().responses()[1].ids()).isEqualTo(OperatorTestSupport.response("y").ids());
            assertThat(out.get(0).generation().promptIds()).isEqualTo(OperatorTestSupport.promptIds("copy ab="));
            assertThat(out.get(0).rewards()).containsExactly(0.5, 2.5);
            assertThat(deadLetters(h)).extracting(DeadLetter::reason).containsExactly("non-finite-reward");
        }
    }

    @Test
    void unscorablePromptsAreWarnedAboutEarlyThenAtEachTenfold() {
        assertThat(java.util.stream.LongStream.rangeClosed(1, 2000).filter(ScoreFunction::shouldWarnUnscorable).toArray())
                .containsExactly(1, 10, 100, 1000);
        String warning = ScoreFunction.unscorableWarning(new GoldRewardModel(), 10, 3, "What is the capital of France?");
        assertThat(warning).contains("10 prompt(s) could not be scored", "'gold'", "optune.score.reward-model",
                new GoldRewardModel().accepts(), "What is the capital of France?", ScoreFunction.UNSCORABLE);
    }
}
