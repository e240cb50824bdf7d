package io.optune.jobs;

import io.optune.connectors.weights.FileSystemWeightLog;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** With optune.audit.user-text SHA256 the dead letters and the pair audit pass through the hashing step before their sinks. */
class UserTextTopologyTest {
    @TempDir
    Path dir;

    private List<String> operatorNames(String userText) throws Exception {
        Configuration conf = EmbeddedRuns.config(dir.resolve("run"), "--optune.audit.user-text", userText,
                "--optune.pairs.audit-path", dir.resolve("audit").toUri().toString());
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.resolve("weights").toUri().toString()).build();
        OptuneTopology.build(conf, Connections.fileSystem(env, conf, log, dir.resolve("feedback").toUri().toString(),
                dir.resolve("dead-letters").toUri().toString()));
        return env.getStreamGraph().getStreamNodes().stream().map(StreamNode::getOperatorName).toList();
    }

    @Test
    void hashingStepsStandBeforeTheSinksOnlyWhenAskedFor() throws Exception {
        assertThat(operatorNames("SHA256")).contains("hash-dead-letter-text", "hash-audit-text");
        assertThat(operatorNames("FULL")).doesNotContain("hash-dead-letter-text", "hash-audit-text");
    }
}
