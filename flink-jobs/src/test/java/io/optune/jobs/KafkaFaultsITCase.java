package io.optune.jobs;

import io.optune.connectors.weights.FileSystemWeightLog;
import io.optune.engine.Json;
import io.optune.engine.task.PromptFeed;
import io.optune.engine.task.TaskPrompt;
import io.optune.operators.faults.FaultInjection;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PromptOutcome;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A live Kafka feed through a trainer crash and a broker restart. The job restarts from its last
 * checkpoint after the crash and rides out the broker's absence; afterwards every produced prompt
 * has exactly one committed ledger outcome, and a read-committed consumer of the policy-update
 * topic sees each version once, in order.
 */
class KafkaFaultsITCase {
    static final int FEED = 3000;

    @TempDir
    Path dir;

    @AfterEach
    void disarm() {
        FaultInjection.reset();
    }

    @Test
    void aTrainerCrashAndABrokerRestartLoseAndDuplicateNothing() throws Exception {
        try (KafkaTestBroker broker = new KafkaTestBroker(dir.resolve("kafka"))) {
            String prompts = "prompts-" + UUID.randomUUID();
            String updates = "updates-" + UUID.randomUUID();
            broker.createTopics(prompts, updates);
            List<String> requestIds = new ArrayList<>();
            // The whole feed is in the topic before the job starts and is read at once: an arrival of a prompt
            // whose regeneration is in flight is skipped (ledger reason regeneration-in-flight), so a small pool
            // would leave too few decided arrivals to reach the trainer fault at step 60.
            PromptFeed feed = new PromptFeed(11, 4096, 0.05);
            List<Map.Entry<String, String>> records = new ArrayList<>();
            for (int i = 0; i < FEED; i++) {
                TaskPrompt p = feed.at(i);
                String requestId = "kafka-" + i;
                requestIds.add(requestId);
                records.add(Map.entry(p.id(), Json.write(Map.of("id", p.id(), "text", p.text(), "request_id", requestId))));
            }
            broker.produce(prompts, records);

            // Restart the broker once training is under way (three versions in the weight log).
            Path weights = dir.resolve("weights");
            AtomicLong restartedAt = new AtomicLong();
            Thread restarter = WeightLogs.whenVersions(weights, 3, "broker-restarter", () -> {
                long down = System.currentTimeMillis();
                broker.restart(Duration.ofSeconds(3));
                restartedAt.set(System.currentTimeMillis());
                System.out.printf("[kafka faults] broker back and leading after %d ms%n", restartedAt.get() - down);
            });

            FaultInjection.arm(FaultInjection.Point.TRAIN, 60);
            EmbeddedMain.Summary s = EmbeddedMain.run(EmbeddedRuns.config(dir.resolve("run"),
                "--optune.weights.path", weights.toUri().toString(),
                "--optune.embedded.duration", "50s",
                "--optune.embedded.sft-steps", "200",
                "--optune.train.held-out-size", "0",
                "--optune.train.publish-every", "10",
                "--optune.batch.size", "16",
                "--optune.source.type", "KAFKA",
                "--optune.kafka.bootstrap-servers", broker.bootstrapServers(),
                "--optune.kafka.prompts.topic", prompts,
                "--optune.kafka.prompts.starting-offsets", "EARLIEST",
                "--optune.kafka.updates.topic", updates,
                "--optune.kafka.updates.feedback", "true",
                // Debloating on (as configured everywhere): with forward edges into the sinks this run stalled
                // for good after the broker restart (see OptuneTopology).
                "--taskmanager.network.memory.buffer-debloat.enabled", "true"));
            restarter.join();
            assertThat(restartedAt.get()).as("the broker was restarted during the run").isPositive();
            assertThat(FaultInjection.fired(FaultInjection.Point.TRAIN)).isTrue();
            assertThat(s.savepoint()).as("the job was still running at the end").isNotNull();

            List<PromptOutcome> ledger = Ledgers.committed(dir.resolve("run/ledger"));
            Ledgers.assertAccountsFor(ledger, requestIds, 16);
            long trainedAfterRestart = ledger.stream()
                    .filter(o -> o.outcome() == PromptOutcome.Outcome.TRAINED && o.time() > restartedAt.get()).count();
            assertThat(trainedAfterRestart).as("training went on after the broker restart").isPositive();
            System.out.printf("[kafka faults] %d arrivals, outcomes %s; %d trained after the broker restart; %d versions%n",
                    ledger.size(), Ledgers.tally(ledger), trainedAfterRestart, s.versions().size());

            List<PolicyUpdate> seen = broker.readCommitted(updates, Duration.ofSeconds(15),
                            r -> !r.isEmpty() && FileSystemWeightLog.parse(r.get(r.size() - 1)).version() == s.finalVersion())
                    .stream().map(FileSystemWeightLog::parse).toList();
            // Read committed: versions committed by the job's checkpoints, once each, in order; none of
            // the ones the crash rolled back (those are redone under new numbers).
            assertThat(seen).extracting(PolicyUpdate::version).doesNotHaveDuplicates().isSorted();
            assertThat(seen.size()).isGreaterThanOrEqualTo(3);
            assertThat(s.versions()).extracting(PolicyUpdate::version)
                    .containsAll(seen.stream().map(PolicyUpdate::version).toList());
        }
    }
}
