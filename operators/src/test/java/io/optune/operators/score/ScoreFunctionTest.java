package io.optune.operators.score;

import io.optune.engine.reward.GoldRewardModel;
import io.optune.engine.reward.RewardModel;
import io.optune.engine.reward.RewardQuery;
import io.optune.operators.OperatorTestSupport;
import io.optune.operators.records.DeadLetter;
import io.optune.operators.records.Generation;
import io.optune.operators.records.SampledResponse;
import io.optune.operators.records.ScoredGeneration;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Meter;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.metrics.groups.InternalOperatorMetricGroup;
import org.apache.flink.runtime.metrics.groups.TaskMetricGroup;
import org.apache.flink.runtime.metrics.groups.UnregisteredMetricGroups;
import org.apache.flink.runtime.metrics.util.InterceptingOperatorMetricGroup;
import org.apache.flink.runtime.operators.testutils.MockEnvironment;
import org.apache.flink.runtime.operators.testutils.MockEnvironmentBuilder;
import org.apache.flink.streaming.api.operators.ProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
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
        RewardModelFactory slow = hanging("slow");
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

    /** A harness whose operator metrics can be read back. */
    private static OneInputStreamOperatorTestHarness<Generation, ScoredGeneration> withMetrics(ScoreFunction fn,
            InterceptingOperatorMetricGroup metrics) throws Exception {
        TaskMetricGroup task = new UnregisteredMetricGroups.UnregisteredTaskMetricGroup() {
            @Override
            public InternalOperatorMetricGroup getOrAddOperator(OperatorID id, String name, Map<String, String> variables) {
                return metrics;
            }
        };
        MockEnvironment env = new MockEnvironmentBuilder().setMetricGroup(task).build();
        var h = new OneInputStreamOperatorTestHarness<>(new ProcessOperator<>(fn), env);
        h.open();
        return h;
    }

    @Test
    void scoringCallsAreMeasured() throws Exception {
        CALLS.set(0);
        InterceptingOperatorMetricGroup metrics = new InterceptingOperatorMetricGroup();
        try (var h = withMetrics(new ScoreFunction(FlakyModel::new, Duration.ofSeconds(5), 3), metrics)) {
            h.processElement(generation("copy ab=", "ab", "a", "b"), 0L);
            h.processElement(generation("rev ab=", "ba", "ab"), 0L);
            assertThat(h.extractOutputValues()).hasSize(2);
        }
        assertThat(((Counter) metrics.get("rewardRetries")).getCount()).isEqualTo(1);
        assertThat(((Counter) metrics.get("rewardRequests")).getCount()).isEqualTo(3);
        assertThat(((Counter) metrics.get("rewardResponses")).getCount()).isEqualTo(5);
        assertThat(((Counter) metrics.get("rewardTimeouts")).getCount()).isZero();
        Histogram batch = (Histogram) metrics.get("rewardBatchSize");
        assertThat(batch.getCount()).isEqualTo(2);
        assertThat(batch.getStatistics().getMax()).isEqualTo(3);
        assertThat(batch.getStatistics().getMin()).isEqualTo(2);
        assertThat(((Histogram) metrics.get("rewardLatencyMs")).getCount()).isEqualTo(3);
        assertThat(metrics.get("rewardResponsesPerSecond")).isInstanceOf(Meter.class);
        assertThat(metrics.get("rewardRequestsPerSecond")).isInstanceOf(Meter.class);
        assertThat(((Gauge<?>) metrics.get("rewardInFlight")).getValue()).isEqualTo(0);
    }

    @Test
    void timeoutsAndDeadLettersAreCounted() throws Exception {
        InterceptingOperatorMetricGroup metrics = new InterceptingOperatorMetricGroup();
        RewardModelFactory hung = hanging("hung");
        try (var h = withMetrics(new ScoreFunction(hung, Duration.ofMillis(30), 2), metrics)) {
            h.processElement(generation("copy ab=", "ab", "a"), 0L);
        }
        assertThat(((Counter) metrics.get("rewardTimeouts")).getCount()).isEqualTo(2);
        assertThat(((Counter) metrics.get("rewardRetries")).getCount()).isEqualTo(1);
        assertThat(((Counter) metrics.get("deadLetters")).getCount()).isEqualTo(1);
        assertThat(((Counter) metrics.get("rewardResponses")).getCount()).isZero();
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
        assertThat(warning).contains("10 prompt(s) could not be scored", "'gold'", "optune.reward.type",
                new GoldRewardModel().accepts(), "What is the capital of France?", ScoreFunction.UNSCORABLE);
    }

    /** A reward model whose calls hang (10 s), for timeout tests. */
    private static RewardModelFactory hanging(String name) {
        return () -> new RewardModel() {
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
                return name;
            }
        };
    }
}
