package io.optune.operators.score;

import io.optune.operators.records.Generation;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
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
import org.apache.flink.streaming.api.datastream.AsyncDataStream;
import org.apache.flink.streaming.api.functions.async.AsyncFunction;
import org.apache.flink.streaming.api.operators.async.AsyncWaitOperatorFactory;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static io.optune.operators.score.AsyncScoreFunctionTest.text;
import static org.assertj.core.api.Assertions.assertThat;

/** The metrics the async score steps report, read back from the operator's metric group. */
class AsyncScoreMetricsTest {
    private RewardTestServer server;

    @BeforeEach
    void reset() {
        AsyncModelScoreFunctionTest.TestModel.reset();
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    /** The async operator with our retry strategy around {@code fn}; its metrics land in {@code metrics}. */
    private static List<ScoreResult> run(AsyncFunction<Generation, ScoreResult> fn, InterceptingOperatorMetricGroup metrics,
            List<Generation> in) throws Exception {
        TaskMetricGroup task = new UnregisteredMetricGroups.UnregisteredTaskMetricGroup() {
            @Override
            public InternalOperatorMetricGroup getOrAddOperator(OperatorID id, String name, Map<String, String> variables) {
                return metrics;
            }
        };
        MockEnvironment env = new MockEnvironmentBuilder().setMetricGroup(task).build();
        TypeSerializer<Generation> serializer = TypeInformation.of(Generation.class).createSerializer(new SerializerConfigImpl());
        var factory = new AsyncWaitOperatorFactory<>(fn, 30_000, 16, AsyncDataStream.OutputMode.UNORDERED);
        try (var h = new OneInputStreamOperatorTestHarness<>(factory, serializer, env)) {
            h.open();
            synchronized (h.getCheckpointLock()) {
                for (Generation g : in) {
                    h.processElement(new StreamRecord<>(g));
                }
            }
            h.endInput(); // waits for every result (retries are off once the input ended: none here)
            return h.extractOutputValues();
        }
    }

    @Test
    void theRemoteServiceStepCountsRequestsFailuresAndLatency() throws Exception {
        server = RewardTestServer.start(HttpRewardConfig.Protocol.OPTUNE, 2);
        server.behave(RewardTestServer.Behaviour.STATUS, 1).status(400); // the first request only
        // One generation per request, one request at a time: the first is refused, the second scores.
        HttpRewardConfig config = HttpRewardConfig.builder(server.url()).setBatchMaxResponses(2).setBatchMaxDelay(Duration.ofMillis(10))
                .setMaxInFlight(1).setRequestTimeout(Duration.ofSeconds(5)).build();
        InterceptingOperatorMetricGroup metrics = new InterceptingOperatorMetricGroup();
        List<ScoreResult> out = run(new AsyncScoreFunction(config), metrics, List.of(text("p", "a", "bb"), text("q", "a", "bb")));
        assertThat(out).hasSize(2);
        assertThat(out).filteredOn(ScoreResult::isScored).hasSize(1);
        assertThat(((Counter) metrics.get("rewardHttpRequests")).getCount()).isEqualTo(2);
        assertThat(((Counter) metrics.get("rewardHttpFailedRequests")).getCount()).isEqualTo(1);
        assertThat(((Counter) metrics.get("rewardHttpRetries")).getCount()).isZero();
        assertThat(((Counter) metrics.get("rewardHttpTimeouts")).getCount()).isZero();
        Histogram batch = (Histogram) metrics.get("rewardHttpBatchResponses");
        assertThat(batch.getCount()).isEqualTo(2);
        assertThat(batch.getStatistics().getMax()).isEqualTo(2);
        assertThat(((Histogram) metrics.get("rewardHttpLatencyMs")).getCount()).isEqualTo(2);
        assertThat(metrics.get("rewardHttpRequestsPerSecond")).isInstanceOf(Meter.class);
        assertThat(((Gauge<?>) metrics.get("rewardHttpInFlight")).getValue()).isEqualTo(0);
        assertThat(((Gauge<?>) metrics.get("rewardHttpQueued")).getValue()).isEqualTo(0);
    }

    @Test
    void theInJobModelStepCountsPassesResponsesAndTheirBatchSizes() throws Exception {
        InterceptingOperatorMetricGroup metrics = new InterceptingOperatorMetricGroup();
        var fn = new AsyncModelScoreFunction(AsyncModelScoreFunctionTest.TestModel::new, 8, Duration.ofMillis(200));
        List<ScoreResult> out = run(fn, metrics, List.of(text("a", "a", "bb", "ccc", "dddd"), text("b", "a", "bb", "ccc", "dddd"),
                text("c", "nan", "bb", "ccc", "dddd")));
        assertThat(out).hasSize(3).allMatch(ScoreResult::isScored);
        // 12 responses in passes of at most 8: two generations share the first pass.
        Histogram batch = (Histogram) metrics.get("rewardBatchSize");
        assertThat(batch.getStatistics().getMax()).isEqualTo(8);
        assertThat(((Counter) metrics.get("rewardRequests")).getCount()).isEqualTo(batch.getCount()).isEqualTo(2);
        assertThat(((Counter) metrics.get("rewardResponses")).getCount()).isEqualTo(12);
        assertThat(((Counter) metrics.get("nonFiniteRewards")).getCount()).isEqualTo(1);
        assertThat(((Counter) metrics.get("rewardRetries")).getCount()).isZero();
        assertThat(((Histogram) metrics.get("rewardLatencyMs")).getCount()).isEqualTo(2);
        assertThat(metrics.get("rewardResponsesPerSecond")).isInstanceOf(Meter.class);
        assertThat(((Gauge<?>) metrics.get("rewardInFlight")).getValue()).isEqualTo(0);
        assertThat((Double) ((Gauge<?>) metrics.get("meanReward")).getValue()).isBetween(1.0, 4.0);
    }
}
