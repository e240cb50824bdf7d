package io.optune.jobs;

import io.optune.connectors.kafka.KafkaPreflight;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Misconfigured Kafka gives one clear error before the job starts. */
class KafkaPreflightITCase {
    @TempDir
    Path dir;

    @Test
    void missingTopicsAndUnreachableBrokersAreReportedClearly() throws Exception {
        try (KafkaTestBroker broker = new KafkaTestBroker(dir.resolve("kafka"))) {
            broker.createTopics("present");
            assertThatCode(() -> KafkaPreflight.check(broker.bootstrapServers(), List.of("present"), new Properties(),
                    Duration.ofSeconds(10))).doesNotThrowAnyException();
            assertThatThrownBy(() -> KafkaPreflight.check(broker.bootstrapServers(), List.of("present", "absent"),
                    new Properties(), Duration.ofSeconds(10)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("topic 'absent' does not exist");
            // The whole job refuses to start on a missing topic, before any training.
            assertThatThrownBy(() -> EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run"),
                "--optune.source.type", "KAFKA", "--optune.kafka.bootstrap-servers", broker.bootstrapServers(),
                "--optune.kafka.prompts.topic", "nope")))
                    .hasMessageContaining("topic 'nope' does not exist");
        }
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        assertThatThrownBy(() -> KafkaPreflight.check("127.0.0.1:" + closedPort, List.of("prompts"), new Properties(),
                Duration.ofSeconds(3)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("did not answer within 3 s");
    }
}
