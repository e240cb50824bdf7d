package io.optune.jobs;

import io.optune.operators.score.HttpRewardConfig;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import io.optune.connectors.weights.FileSystemWeightLog;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamNode;

import java.nio.file.Path;
import java.util.List;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** optune.reward.http.*: checked before the job starts, mapped onto the client's configuration. */
class HttpRewardOptionsTest {
    private static Configuration http(String... kv) {
        Configuration c = new Configuration();
        c.set(OptuneOptions.REWARD_TYPE, OptuneOptions.RewardType.HTTP);
        for (int i = 0; i < kv.length; i += 2) {
            c.setString(kv[i], kv[i + 1]);
        }
        return c;
    }

    @TempDir
    Path dir;

    private List<String> operatorNames(String... more) throws Exception {
        Configuration conf = EmbeddedRuns.config(dir.resolve("run"), more);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.resolve("weights").toUri().toString()).build();
        OptuneTopology.build(conf, Connections.fileSystem(env, conf, log, dir.resolve("feedback").toUri().toString(),
                dir.resolve("dead-letters").toUri().toString()));
        return env.getStreamGraph().getStreamNodes().stream().map(StreamNode::getOperatorName).toList();
    }

    @Test
    void theRewardTypePicksTheScoreStep() throws Exception {
        assertThat(operatorNames()).contains("score").doesNotContain("score-http", "score-http-split");
        assertThat(operatorNames("--optune.reward.type", "HTTP", "--optune.reward.http.url", "http://127.0.0.1:1/score"))
                .contains("score-http", "score-http-split", "build-pairs").doesNotContain("score");
    }

    @Test
    void httpRewardWithoutAUrlIsRefusedBeforeTheJobStarts() {
        assertThatThrownBy(() -> JobConfig.validate(http())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("optune.reward.http.url");
        assertThatThrownBy(() -> JobConfig.load(new String[] {"--conf", "../conf/optune.yaml", "--optune.reward.type", "HTTP"}))
                .hasMessageContaining("optune.reward.http.url");
    }

    @Test
    void badValuesAreRefusedWithTheirReason() {
        assertThatThrownBy(() -> JobConfig.validate(http("optune.reward.http.url", "rm:8080/score")))
                .hasMessageContaining("http:// or https://");
        assertThatThrownBy(() -> JobConfig.validate(http("optune.reward.http.url", "http://rm/score",
                "optune.reward.http.token-env", "T", "optune.reward.http.token-file", "/t"))).hasMessageContaining("not both");
        assertThatThrownBy(() -> JobConfig.validate(http("optune.reward.http.url", "http://rm/score",
                "optune.reward.http.protocol", "GRPC"))).hasMessageContaining("optune.reward.http.protocol");
    }

    @Test
    void optionsMapOntoTheClientConfiguration() {
        Configuration c = http("optune.reward.http.url", "https://tei:443/predict", "optune.reward.http.protocol", "TEI",
                "optune.reward.http.tei-label", "helpful", "optune.reward.http.batch-max-responses", "32",
                "optune.reward.http.batch-max-delay", "5ms", "optune.reward.http.max-in-flight", "3",
                "optune.reward.http.timeout", "2s", "optune.reward.http.token-file", "/var/run/secrets/rm/token",
                "optune.reward.http.gzip", "true");
        JobConfig.validate(c);
        HttpRewardConfig h = OptuneTopology.httpRewardConfig(c);
        assertThat(h.protocol()).isEqualTo(HttpRewardConfig.Protocol.TEI);
        assertThat(h.scoresPath()).isEmpty();
        assertThat(h.teiLabel()).isEqualTo("helpful");
        assertThat(h.batchMaxResponses()).isEqualTo(32);
        assertThat(h.batchMaxDelay()).isEqualTo(Duration.ofMillis(5));
        assertThat(h.maxInFlight()).isEqualTo(3);
        assertThat(h.requestTimeout()).isEqualTo(Duration.ofSeconds(2));
        assertThat(h.tokenFile()).isEqualTo("/var/run/secrets/rm/token");
        assertThat(h.gzipRequests()).isTrue();
        assertThat(OptuneTopology.httpRewardConfig(http("optune.reward.http.url", "http://rm/score")).scoresPath()).isEqualTo("/scores");
    }
}
