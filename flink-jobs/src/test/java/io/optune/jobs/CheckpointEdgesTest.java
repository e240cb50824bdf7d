package io.optune.jobs;

import io.optune.connectors.weights.FileSystemWeightLog;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamEdge;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.flink.streaming.api.graph.StreamingJobGraphGenerator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Which edges of the job Flink checkpoints aligned. An aligned task downstream of the trainer could
 * deadlock a checkpoint (see {@link OptuneTopology}): only the generator may align (its broadcast
 * policy-update input), at any parallelism, with every optional sink present.
 */
class CheckpointEdgesTest {
    @TempDir
    Path dir;

    @ParameterizedTest(name = "generators at parallelism {0}")
    @ValueSource(ints = {1, 3})
    void onlyTheGeneratorsInputsAreCheckpointedAligned(int generators) throws Exception {
        Configuration conf = EmbeddedRuns.config(dir.resolve("run"),
                "--optune.generate.parallelism", String.valueOf(generators),
                "--optune.pairs.audit-path", dir.resolve("audit").toUri().toString(),
                "--optune.dead-letters.path", dir.resolve("dead-letters").toUri().toString(),
                "--optune.ledger.path", dir.resolve("ledger").toUri().toString(),
                "--optune.ledger.retention", "1d", "--optune.audit.retention", "1d");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(dir.resolve("weights").toUri().toString()).build();
        OptuneTopology.build(conf, Connections.fileSystem(env, conf, log, dir.resolve("feedback").toUri().toString(),
                dir.resolve("dead-letters").toUri().toString()));
        StreamGraph graph = env.getStreamGraph();
        List<String> aligned = new ArrayList<>();
        for (var node : graph.getStreamNodes()) {
            for (StreamEdge e : node.getInEdges()) {
                if (!e.supportsUnalignedCheckpoints() && !StreamingJobGraphGenerator.isChainable(e, graph)) {
                    aligned.add(graph.getStreamNode(e.getSourceId()).getOperatorName() + " -> " + node.getOperatorName()
                            + " (" + e.getPartitioner() + ")");
                }
            }
        }
        assertThat(aligned).isNotEmpty().allSatisfy(edge -> assertThat(edge).contains("-> generate ("));
    }
}
