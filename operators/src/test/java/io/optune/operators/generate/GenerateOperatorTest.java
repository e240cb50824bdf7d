package io.optune.operators.generate;

import io.optune.engine.generate.SamplingConfig;
import io.optune.engine.tokenizer.ChatMessage;
import io.optune.operators.OperatorTestSupport;
import io.optune.operators.records.Generation;
import io.optune.operators.records.GenerationRequest;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.Prompt;
import io.optune.operators.weights.InMemoryWeightLog;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.TwoInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class GenerateOperatorTest {
    private static final SamplingConfig SAMPLING = new SamplingConfig(1f, 1f, 6, 3);

    private static TwoInputStreamOperatorTestHarness<GenerationRequest, PolicyUpdate, Generation> harness(InMemoryWeightLog log) throws Exception {
        return new TwoInputStreamOperatorTestHarness<>(new GenerateOperator(log, SAMPLING, 24, 2, 100, 1L));
    }

    @Test
    void batchesBySizeOrDelayAndStampsTheVersion() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(4, 1);
        try (var h = harness(log)) {
            h.open();
            h.setProcessingTime(0);
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev abc=")));
            assertThat(h.extractOutputValues()).isEmpty();
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("add 1+2=")));
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).hasSize(2); // max batch reached
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("copy ab=")));
            h.setProcessingTime(99);
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).hasSize(2);
            h.setProcessingTime(100); // max delay reached
            OperatorTestSupport.settle(h);
            List<Generation> out = h.extractOutputValues();
            assertThat(out).hasSize(3);
            assertThat(out).allSatisfy(g -> {
                assertThat(g.policyVersion()).isEqualTo(4);
                assertThat(g.responses()).hasSize(3);
                assertThat(g.tokens()).isPositive();
            });
            assertThat(out.get(2).request().prompt().text()).isEqualTo("copy ab=");
            assertThat(h.getEnvironment().getAccumulatorRegistry().getUserMap().get(GeneratorMetrics.ACC_BATCHES).getLocalValue())
                    .as("one full micro-batch, one cut by the delay").isEqualTo(2L);
            // Each generation carries the prompt ids fed and, per response, the sampled ids as they
            // are (EOS last when one was sampled, none when cut), their log-probs and the decoded text.
            var tokenizer = io.optune.engine.EngineTestSupport.TOKENIZER;
            assertThat(out.get(2).promptIds()).isEqualTo(OperatorTestSupport.promptIds("copy ab="));
            int total = 0;
            for (Generation g : out) {
                int tokens = 0;
                for (var r : g.responses()) {
                    assertThat(r.logProbs()).hasSameSizeAs(r.ids());
                    for (float v : r.logProbs()) {
                        assertThat(v).isLessThanOrEqualTo(0f);
                    }
                    assertThat(r.text()).isEqualTo(tokenizer.decode(r.ids()));
                    boolean endsWithEos = tokenizer.isEos(r.ids()[r.ids().length - 1]);
                    assertThat(r.cut()).isEqualTo(!endsWithEos);
                    if (r.cut()) {
                        assertThat(r.ids()).hasSize(SAMPLING.maxNewTokens()).doesNotContain(tokenizer.eosIds());
                    }
                    tokens += r.ids().length;
                    total++;
                }
                assertThat(g.tokens()).isEqualTo(tokens);
            }
            assertThat(total).isEqualTo(9);
        }
    }

    @Test
    void colocatedSamplingWaitsForTheDevicesTurnOnItsOwnThreadAndACheckpointDoesNot() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 1);
        String device = "cpu"; // the generator's device: only colocated work takes turns on it, and no other test colocates
        OperatorSubtaskState snapshot;
        List<Generation> first;
        try (var h = new TwoInputStreamOperatorTestHarness<>(new GenerateOperator(log, SAMPLING, 24, 2, 100, 1L).colocated(true))) {
            h.open();
            try (io.optune.engine.DeviceTurns.Turn trainerStep = io.optune.engine.DeviceTurns.take(device, true)) {
                h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev abc=")));
                h.processElement1(new StreamRecord<>(OperatorTestSupport.request("sort cba="))); // full: handed to the sampling thread
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (io.optune.engine.DeviceTurns.waiting(device) == 0 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertThat(io.optune.engine.DeviceTurns.waiting(device)).as("the generator waits for the trainer's step").isEqualTo(1);
                // The task thread is free meanwhile: a checkpoint completes while the batch waits and holds its requests.
                snapshot = h.snapshot(1L, 1L);
                assertThat(h.extractOutputValues()).isEmpty();
                assertThat(((GenerateOperator) h.getOperator()).idle()).isFalse();
            }
            OperatorTestSupport.settle(h);
            first = h.extractOutputValues();
            assertThat(first).hasSize(2);
        }
        // A restore samples the batch again, from the RNG as it was before it: the same responses.
        try (var h = new TwoInputStreamOperatorTestHarness<>(new GenerateOperator(log, SAMPLING, 24, 2, 100, 1L))) {
            h.initializeState(snapshot);
            h.open();
            h.setProcessingTime(1);
            OperatorTestSupport.settle(h);
            List<Generation> again = h.extractOutputValues();
            assertThat(again).extracting(g -> g.request().prompt().text()).containsExactly("rev abc=", "sort cba=");
            for (int i = 0; i < 2; i++) {
                assertThat(again.get(i).responses()).extracting(r -> r.text())
                        .containsExactlyElementsOf(java.util.Arrays.stream(first.get(i).responses()).map(r -> r.text()).toList());
            }
        }
    }

    @Test
    void generationsSampledButNotYetEmittedAreCheckpointedAsTheyAreAndEmittedOneMailEach() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 1);
        OperatorSubtaskState snapshot;
        try (var h = harness(log)) {
            h.open();
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev abc=")));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("sort cba="))); // full: sampling
            var mailbox = h.getTaskMailbox();
            var result = mailbox.take(org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailbox.MIN_PRIORITY); // the batch's result
            result.run();
            assertThat(h.extractOutputValues()).as("emission goes one mail at a time").isEmpty();
            mailbox.take(org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailbox.MIN_PRIORITY).run();
            assertThat(h.extractOutputValues()).extracting(g -> g.request().prompt().text()).containsExactly("rev abc=");
            snapshot = h.snapshot(1L, 1L); // "sort cba=" is sampled, not emitted
        }
        List<Generation> emitted;
        try (var h = harness(log)) {
            h.open();
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev abc=")));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("sort cba=")));
            OperatorTestSupport.settle(h);
            emitted = h.extractOutputValues(); // the same run, uninterrupted
        }
        try (var h = harness(log)) {
            h.initializeState(snapshot);
            h.open();
            OperatorTestSupport.settle(h);
            List<Generation> restored = h.extractOutputValues();
            assertThat(restored).hasSize(1);
            assertThat(restored.get(0)).usingRecursiveComparison().isEqualTo(emitted.get(1)); // as sampled, not sampled again
        }
    }

    @Test
    void aFullBatchBehindOneSamplingHoldsTheTaskThreadUntilItIsDone() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 1);
        try (var h = new TwoInputStreamOperatorTestHarness<>(new GenerateOperator(log, SAMPLING, 24, 1, 100, 1L))) {
            h.open();
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev abc="))); // sampling
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("copy ab="))); // waits for the first, then samples
            assertThat(h.extractOutputValues()).extracting(g -> g.request().prompt().text()).containsExactly("rev abc=");
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).extracting(g -> g.request().prompt().text()).containsExactly("rev abc=", "copy ab=");
        }
    }

    @Test
    void colocatedPartialBatchesWaitForAnIdleDeviceAndKeepGrowing() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 1);
        java.util.concurrent.CountDownLatch taken = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        Thread trainer = new Thread(() -> { // holds the device as a DPO step would
            try (io.optune.engine.DeviceTurns.Turn step = io.optune.engine.DeviceTurns.take("cpu", true)) {
                taken.countDown();
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try (var h = new TwoInputStreamOperatorTestHarness<>(new GenerateOperator(log, SAMPLING, 24, 4, 100, 1L).colocated(true))) {
            h.open();
            h.setProcessingTime(0);
            trainer.start();
            assertThat(taken.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev abc=")));
            h.setProcessingTime(100); // max delay reached, but the device is busy: the batch waits and grows
            OperatorTestSupport.settle(h);
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("copy ab=")));
            h.setProcessingTime(100 + GenerateOperator.DEFER_RETRY_MS);
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).isEmpty();
            release.countDown();
            trainer.join();
            h.setProcessingTime(100 + 2 * GenerateOperator.DEFER_RETRY_MS); // idle now: the partial batch is sampled
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).hasSize(2);
            assertThat(h.getEnvironment().getAccumulatorRegistry().getUserMap().get(GeneratorMetrics.ACC_BATCHES).getLocalValue())
                    .as("deferred twice, sampled once").isEqualTo(1L);
        } finally {
            release.countDown();
            trainer.join();
        }
    }

    @Test
    void loadsAnnouncedVersionsAndSkipsOnesThatFailVerification() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 1);
        try (var h = harness(log)) {
            h.open();
            PolicyUpdate v1 = OperatorTestSupport.publish(log, 1, 2);
            h.processElement2(new StreamRecord<>(v1));
            PolicyUpdate v2 = OperatorTestSupport.publish(log, 2, 3);
            log.overwrite(v2.location(), "model.safetensors", new byte[] {1, 2, 3}); // tampered / truncated
            h.processElement2(new StreamRecord<>(v2));
            h.processElement2(new StreamRecord<>(v1)); // stale announcements are ignored
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev ab=")));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev ba=")));
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).allSatisfy(g -> assertThat(g.policyVersion()).isEqualTo(1));
        }
    }

    @Test
    void aVersionPrunedBeforeItWasLoadedIsPassedOverForTheNextOne() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 1);
        try (var h = harness(log)) {
            h.open();
            PolicyUpdate v1 = OperatorTestSupport.publish(log, 1, 2);
            log.prune(v1); // this generator lagged a whole retention window
            h.processElement2(new StreamRecord<>(v1));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev ab=")));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev ba=")));
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).hasSize(2).allSatisfy(g -> assertThat(g.policyVersion()).isZero());
            h.processElement2(new StreamRecord<>(OperatorTestSupport.publish(log, 2, 3)));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev ab=")));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev ba=")));
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).hasSize(4).last().satisfies(g -> assertThat(g.policyVersion()).isEqualTo(2));
        }
    }

    @Test
    void pendingRequestsSurviveARestoreAndTheNewestVersionIsLoadedOnStart() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 1);
        OperatorSubtaskState snapshot;
        try (var h = harness(log)) {
            h.open();
            h.setProcessingTime(0);
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("sort cba=")));
            snapshot = h.snapshot(1L, 1L);
        }
        OperatorTestSupport.publish(log, 7, 5);
        try (var h = harness(log)) {
            h.initializeState(snapshot);
            h.open();
            h.setProcessingTime(1000);
            OperatorTestSupport.settle(h);
            List<Generation> out = h.extractOutputValues();
            assertThat(out).hasSize(1);
            assertThat(out.get(0).request().prompt().text()).isEqualTo("sort cba=");
            assertThat(out.get(0).policyVersion()).isEqualTo(7);
        }
    }

    @Test
    void aGeneratorStartingAfterAForgedVersionLoadsTheNewestGenuineOne() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 1);
        OperatorTestSupport.publish(log, 1, 2);
        PolicyUpdate v2 = OperatorTestSupport.publish(log, 2, 3);
        log.overwrite(v2.location(), "optune.json", new byte[] {6, 6, 6}); // the newest version no longer matches its announcement
        try (var h = harness(log)) {
            h.open();
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev ab=")));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev ba=")));
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).hasSize(2).allSatisfy(g -> assertThat(g.policyVersion()).isEqualTo(1));
        }
    }

    @Test
    void chatPromptsAreEncodedWithTheChatTemplateOrDeadLettered() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 1);
        try (var h = harness(log)) {
            h.open();
            // The built-in policy's character tokenizer has no chat template.
            Prompt chat = new Prompt("c1", "r1", "", List.of(ChatMessage.user("rev ab=")), "", 0L);
            h.processElement1(new StreamRecord<>(new GenerationRequest(chat, null, 0L)));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev ba=")));
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).extracting(g -> g.request().prompt().id()).containsExactly(OperatorTestSupport.prompt("rev ba=").id());
            assertThat(h.getSideOutput(GenerateOperator.DEAD_LETTERS)).singleElement().satisfies(r -> {
                assertThat(r.getValue().reason()).isEqualTo("no-chat-template");
                assertThat(r.getValue().requestId()).isEqualTo("r1");
                assertThat(r.getValue().payload()).contains("rev ab=");
            });
        }
    }

    private static final org.apache.flink.runtime.checkpoint.SnapshotType STOP =
            org.apache.flink.runtime.checkpoint.SavepointType.terminate(org.apache.flink.core.execution.SavepointFormatType.CANONICAL);
    private static final int MIN = org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailbox.MIN_PRIORITY;

    @Test
    @org.junit.jupiter.api.Timeout(60)
    void afterAStopWithSavepointNothingIsEmittedAndTheTaskDrainsItsMailboxCleanly() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 1);
        OperatorSubtaskState savepoint;
        try (var h = harness(log)) {
            h.open();
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev abc=")));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("sort cba="))); // full: sampling
            var mailbox = h.getTaskMailbox();
            mailbox.take(MIN).run(); // the result: two generations wait for emission, its first mail queued
            savepoint = h.snapshotWithLocalState(1L, 1L, STOP).getJobManagerOwnedState();
            // The savepoint completes and the task ends: its mailbox refuses new mails and runs what is queued
            // (as Flink's StreamTask does when closing). An emission there failed the task after a good savepoint.
            mailbox.quiesce();
            for (var mail : mailbox.drain()) {
                mail.run();
            }
            assertThat(h.extractOutputValues()).as("nothing after the savepoint's barrier").isEmpty();
        }
        try (var h = harness(log)) {
            h.initializeState(savepoint);
            h.open();
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).extracting(g -> g.request().prompt().text()).containsExactly("rev abc=", "sort cba=");
        }
    }

    @Test
    @org.junit.jupiter.api.Timeout(60)
    void anAbortedStopWithSavepointResumesGeneratingWithTheResultsThatCameMeanwhile() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 1);
        try (var h = harness(log)) {
            h.open();
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("rev abc=")));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("sort cba="))); // full: sampling
            h.snapshotWithLocalState(1L, 1L, STOP);
            h.getTaskMailbox().take(MIN).run(); // the batch comes back while the generator stops: held
            assertThat(h.getTaskMailbox().tryTake(MIN)).as("no emission queued").isEmpty();
            assertThat(h.extractOutputValues()).isEmpty();
            h.getOperator().notifyCheckpointAborted(1L); // the stop failed: the task goes on
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).extracting(g -> g.request().prompt().text()).containsExactly("rev abc=", "sort cba=");
            // And it keeps generating.
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("copy ab=")));
            h.processElement1(new StreamRecord<>(OperatorTestSupport.request("add 1+2=")));
            OperatorTestSupport.settle(h);
            assertThat(h.extractOutputValues()).hasSize(4);
        }
    }
}
