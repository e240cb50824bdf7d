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

/** The audit options shape the topology: hashing steps before the dead-letter and audit sinks, the retention sweep. */
class UserTextTopologyTest {
    @TempDir
    Path dir;

    private List<String> operatorNames(String userText, String... more) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("--optune.audit.user-text", userText,
                "--optune.pairs.audit-path", dir.resolve("audit").toUri().toString(),
                "--optune.dead-letters.path", dir.resolve("dead-letters").toUri().toString()));
        args.addAll(List.of(more));
        Configuration conf = EmbeddedRuns.config(dir.resolve("run"), args.toArray(new String[0]));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.resolve("weights").toUri().toString()).build();
        OptuneTopology.build(conf, Connections.fileSystem(env, conf, log, dir.resolve("feedback").toUri().toString(),
                dir.resolve("dead-letters").toUri().toString()));
        return env.getStreamGraph().getStreamNodes().stream().map(StreamNode::getOperatorName).toList();
    }

    @Test
    void hashingStepsStandBeforeTheSinksOnlyWhenAskedFor() throws Exception {
        assertThat(operatorNames("SHA256")).contains("hash-dead-letter-text", "hash-audit-text");
        assertThat(operatorNames("FULL")).doesNotContain("hash-dead-letter-text", "hash-audit-text", "audit-retention");
    }

    @Test
    void aRetentionSweepRunsOnlyWhenRetentionIsSet() throws Exception {
        assertThat(operatorNames("FULL", "--optune.audit.retention", "30d")).contains("audit-retention");
    }

    @Test
    void theLedgerIsSweptOnlyWhenItsRetentionIsSet() throws Exception {
        String ledger = dir.resolve("ledger").toUri().toString();
        assertThat(operatorNames("FULL", "--optune.ledger.path", ledger)).doesNotContain("ledger-retention");
        assertThat(operatorNames("FULL", "--optune.ledger.path", ledger, "--optune.audit.retention", "30d")).doesNotContain("ledger-retention");
        assertThat(operatorNames("FULL", "--optune.ledger.path", ledger, "--optune.ledger.retention", "90d")).contains("ledger-retention");
    }
}
