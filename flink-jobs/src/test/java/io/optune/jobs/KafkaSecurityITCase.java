package io.optune.jobs;

import io.optune.connectors.kafka.KafkaPreflight;
import io.optune.engine.Json;
import io.optune.engine.task.PromptFeed;
import io.optune.engine.task.TaskPrompt;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Kafka over TLS with SCRAM-SHA-256 users, against an in-process broker whose certificate is made in
 * the test: the job runs with the right credentials, wrong ones are the clear preflight error, and no
 * secret value shows up in logs, standard output, exceptions, the run's files or Flink's
 * configuration views.
 */
class KafkaSecurityITCase {
    private static final String ALICE_PASSWORD = "alice-" + UUID.randomUUID();

    @TempDir
    Path dir;

    private static Properties props(Map<String, String> m) {
        Properties p = new Properties();
        p.putAll(m);
        return p;
    }

    @Test
    void theJobRunsOverSaslSslAndNoSecretLeaks() throws Exception {
        try (KafkaTestBroker broker = KafkaTestBroker.secured(dir.resolve("kafka"), Map.of("alice", ALICE_PASSWORD))) {
            String topic = "prompts-" + UUID.randomUUID();
            broker.createTopics(topic);
            PromptFeed feed = new PromptFeed(5, 256, 0.05);
            List<Map.Entry<String, String>> records = new ArrayList<>();
            for (int i = 0; i < 3000; i++) {
                TaskPrompt p = feed.at(i);
                records.add(Map.entry(p.id(), Json.write(Map.of("id", p.id(), "text", p.text()))));
            }
            broker.produce(topic, records);
            Map<String, String> alice = broker.clientSecurity("alice", ALICE_PASSWORD);
            String storePassword = alice.get("ssl.truststore.password");
            List<String> secrets = List.of(ALICE_PASSWORD, storePassword, "wrong-" + ALICE_PASSWORD);

            List<String> errors = new ArrayList<>();
            String captured;
            EmbeddedMain.Summary summary;
            try (CapturedOutput out = new CapturedOutput()) {
                // Wrong password and an untrusted certificate: one clear error each, before any job.
                Map<String, String> wrong = broker.clientSecurity("alice", "wrong-" + ALICE_PASSWORD);
                assertThatThrownBy(() -> KafkaPreflight.check(broker.bootstrapServers(), List.of(topic), props(wrong), Duration.ofSeconds(20)))
                        .satisfies(e -> errors.add(String.valueOf(e)))
                        .hasMessageContaining("refused the credentials");
                Map<String, String> untrusted = new java.util.HashMap<>(alice);
                untrusted.remove("ssl.truststore.location");
                untrusted.remove("ssl.truststore.password");
                untrusted.remove("ssl.truststore.type");
                assertThatThrownBy(() -> KafkaPreflight.check(broker.bootstrapServers(), List.of(topic), props(untrusted), Duration.ofSeconds(20)))
                        .satisfies(e -> errors.add(String.valueOf(e)))
                        .hasMessageContaining(broker.bootstrapServers());

                Configuration conf = EmbeddedRuns.config(dir.resolve("run"),
                        "--optune.embedded.duration", "25s",
                        "--optune.embedded.sft-steps", "150",
                        "--optune.train.held-out-size", "0",
                        "--optune.train.publish-every", "10",
                        "--optune.source.type", "KAFKA",
                        "--optune.kafka.bootstrap-servers", broker.bootstrapServers(),
                        "--optune.kafka.prompts.topic", topic,
                        "--optune.kafka.prompts.starting-offsets", "EARLIEST");
                // As they arrive from a Secret: OPTUNE_KAFKA_PROPERTY_* environment variables.
                Map<String, String> env = new java.util.HashMap<>();
                alice.forEach((k, v) -> env.put(JobConfig.KAFKA_ENV_PREFIX + k.toUpperCase(java.util.Locale.ROOT).replace('.', '_'), v));
                JobConfig.kafkaPropertiesFromEnvironment(env).forEach(conf::setString);
                // Flink's web UI and REST configuration views mask these keys.
                JobConfig.kafkaPropertiesFromEnvironment(env).forEach((k, v) -> {
                    if (secrets.contains(v) || v.contains(ALICE_PASSWORD)) {
                        assertThat(GlobalConfiguration.isSensitive(k)).as("Flink hides %s", k).isTrue();
                    }
                });
                summary = EmbeddedMain.run(conf);
                captured = out.text();
            }
            assertThat(summary.promptsIn()).as("prompts read over SASL_SSL").isPositive();
            assertThat(summary.versionsEmitted()).isPositive();

            assertThat(captured).as("the capture saw the run").contains("Published policy version").contains("ConsumerConfig values");
            List<String> places = new ArrayList<>();
            places.add(captured);
            places.addAll(errors);
            try (Stream<Path> files = Files.walk(dir.resolve("run"))) {
                for (Path f : files.filter(Files::isRegularFile).toList()) {
                    try {
                        places.add(f + ": " + new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1));
                    } catch (java.nio.file.NoSuchFileException gone) {
                        // a checkpoint file subsumed while we walked
                    }
                }
            }
            for (String place : places) {
                for (String secret : secrets) {
                    assertThat(place).as("a secret value leaked into: %.200s", place).doesNotContain(secret);
                }
            }
        }
    }
}
