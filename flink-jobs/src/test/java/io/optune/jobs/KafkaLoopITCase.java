package io.optune.jobs;

import ai.djl.ndarray.NDManager;
import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.engine.Json;
import io.optune.engine.PromptEncoder;
import io.optune.engine.Rng;
import io.optune.engine.generate.Completion;
import io.optune.engine.generate.Generator;
import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.checkpoint.PolicyDirectory;
import io.optune.operators.weights.VerifiedVersion;
import io.optune.engine.task.PromptFeed;
import io.optune.engine.task.TaskPrompt;
import io.optune.operators.records.PolicyUpdate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A live feed end to end against a real (in-process KRaft) broker: prompts produced to a topic flow
 * through the job, policy updates appear on the updates topic (exactly once, read committed) and in
 * the weight log, and a separate consumer loads the newest announced snapshot and generates with it.
 */
class KafkaLoopITCase {
    @TempDir
    Path dir;

    @Test
    void promptsFromKafkaTrainThePolicyAndUpdatesArePublishedToKafka() throws Exception {
        try (KafkaTestBroker broker = new KafkaTestBroker(dir.resolve("kafka"))) {
            String prompts = "prompts-" + UUID.randomUUID();
            String updates = "updates-" + UUID.randomUUID();
            broker.createTopics(prompts, updates);
            PromptFeed feed = new PromptFeed(5, 256, 0.05);
            List<Map.Entry<String, String>> records = new java.util.ArrayList<>();
            for (int i = 0; i < 6000; i++) {
                TaskPrompt p = feed.at(i);
                records.add(Map.entry(p.id(), Json.write(Map.of("id", p.id(), "text", p.text()))));
            }
            records.add(Map.entry("bad", "{not json"));
            broker.produce(prompts, records);

            EmbeddedMain.Summary s = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run"),
                "--optune.embedded.duration", "30s",
                "--optune.embedded.sft-steps", "200",
                "--optune.train.held-out-size", "0",
                "--optune.train.publish-every", "10",
                "--optune.source.type", "KAFKA",
                "--optune.kafka.bootstrap-servers", broker.bootstrapServers(),
                "--optune.kafka.prompts.topic", prompts,
                "--optune.kafka.prompts.starting-offsets", "EARLIEST",
                "--optune.kafka.updates.topic", updates,
                "--optune.kafka.updates.feedback", "true",
                "--optune.kafka.properties.client.dns.lookup", "use_all_dns_ips"));
            assertThat(s.promptsIn()).isPositive();
            assertThat(s.deadLetters()).isEqualTo(1);
            assertThat(s.versionsEmitted()).isGreaterThanOrEqualTo(2);
            // The generators followed the versions through the topic (version 0 is loaded at start).
            assertThat(s.generatorVersionLoads()).isGreaterThanOrEqualTo(2);

            List<PolicyUpdate> seen = broker.readCommitted(updates, Duration.ofSeconds(20), r -> r.size() >= s.versionsEmitted())
                    .stream().map(FileSystemWeightLog::parse).toList();
            // Every version committed by the job's last checkpoint is on the topic, once, in order.
            assertThat(seen).isNotEmpty();
            assertThat(seen).extracting(PolicyUpdate::version).doesNotHaveDuplicates().isSorted();

            PolicyUpdate newest = seen.get(seen.size() - 1);
            FileSystemWeightLog log = FileSystemWeightLog.builder().setBasePath(s.weightLog()).build();
            try (NDManager m = NDManager.newBaseManager(); VerifiedVersion files = log.readVerified(newest)) {
                PolicyDirectory.Loaded loaded = PolicyDirectory.load(files.dir(), m);
                PromptEncoder encoder = new PromptEncoder(loaded.tokenizer(), 24);
                List<Completion> out = new Generator(loaded.model(), loaded.tokenizer())
                        .generate(m, List.of(encoder.encodePrompt("rev abc=")), SamplingConfig.greedy(8), new Rng(1));
                assertThat(out.get(0).tokens()).isNotEmpty();
                loaded.model().close();
            }
        }
    }
}
