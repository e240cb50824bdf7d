package io.optune.operators.train;

import io.optune.operators.weights.VerifiedVersion;
import io.optune.engine.train.AdamWConfig;
import io.optune.engine.train.DpoConfig;
import io.optune.engine.train.LossType;
import io.optune.operators.OperatorTestSupport;
import io.optune.operators.records.PolicyUpdate;
import io.optune.operators.records.PreferenceBatch;
import io.optune.operators.records.PreferencePair;
import io.optune.operators.records.PromptOutcome;
import io.optune.operators.weights.InMemoryWeightLog;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.StateObjectCollection;
import org.apache.flink.runtime.state.OperatorStreamStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TrainFunctionTest {
    private static final DpoConfig DPO = new DpoConfig(LossType.SIGMOID, 0.5f, 0.5f, AdamWConfig.of(1e-3f));

    private static OneInputStreamOperatorTestHarness<PreferenceBatch, PolicyUpdate> harness(InMemoryWeightLog log) throws Exception {
        return new OneInputStreamOperatorTestHarness<>(new TrainOperator(new TrainFunction(log, DPO, 2)));
    }

    private static PreferenceBatch batch(int i) {
        return new PreferenceBatch(new PreferencePair[] {
            OperatorTestSupport.pair("rev ab=", "ba", "ab", 0.5 + 0.01 * i),
            OperatorTestSupport.pair("add 1+2=", "3", "4", 0.5),
            reused("copy ab=", "ab", "abb"),
        }, i);
    }

    /** A stored pair reused from memory (not fresh), under the request id "req-fresh". */
    private static PreferencePair reused(String prompt, String chosen, String rejected) {
        PreferencePair p = OperatorTestSupport.pair(prompt, chosen, rejected, 1.0, 0.66, 2.0, 3, false);
        return new PreferencePair("p-fresh", "req-fresh", p.prompt(), p.promptIds(), p.pair(), p.policyVersion(), p.fresh());
    }

    /** The versions a trainer publishes over {@code batches} batches without interruption. */
    private static List<PolicyUpdate> uninterrupted(InMemoryWeightLog log, int batches) throws Exception {
        try (var h = harness(log)) {
            h.open();
            for (int i = 0; i < batches; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            return h.extractOutputValues();
        }
    }

    private static void assertSameWeights(InMemoryWeightLog log, PolicyUpdate version, InMemoryWeightLog refLog, PolicyUpdate refVersion)
            throws Exception {
        try (VerifiedVersion resumed = log.readVerified(version); VerifiedVersion reference = refLog.readVerified(refVersion)) {
            assertThat(resumed.manifest().files().get("model.safetensors"))
                    .isEqualTo(reference.manifest().files().get("model.safetensors"));
        }
    }

    @Test
    void aColocatedStepWaitsForTheDevicesTurnAndCountsOnlyItsOwnTime() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        try (var h = new OneInputStreamOperatorTestHarness<>(new TrainOperator(new TrainFunction(log, DPO, 1).colocated(true)))) {
            h.open();
            java.util.concurrent.CompletableFuture<Long> stepped;
            long heldMs = 300;
            try (io.optune.engine.DeviceTurns.Turn sampling = io.optune.engine.DeviceTurns.take("cpu", true)) {
                stepped = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                    long start = System.nanoTime();
                    try {
                        h.processElement(new StreamRecord<>(batch(0)));
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    return (System.nanoTime() - start) / 1_000;
                });
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (io.optune.engine.DeviceTurns.waiting("cpu") == 0 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertThat(io.optune.engine.DeviceTurns.waiting("cpu")).as("the DPO step waits for the generator's turn").isEqualTo(1);
                Thread.sleep(heldMs);
                assertThat(stepped).isNotDone();
            }
            long wallUs = stepped.get(60, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(h.extractOutputValues()).extracting(PolicyUpdate::step).containsExactly(1L);
            // Busy time is the step's own: the wait for the turn (at least heldMs) is not in it.
            long busyUs = (Long) h.getEnvironment().getAccumulatorRegistry().getUserMap().get(TrainFunction.ACC_BUSY_US).getLocalValue();
            assertThat(busyUs).isPositive().isLessThanOrEqualTo(wallUs - heldMs * 1_000);
        }
    }

    @Test
    void publishesAVersionEveryNStepsToTheWeightLog() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        try (var h = harness(log)) {
            h.open();
            for (int i = 0; i < 5; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            List<PolicyUpdate> out = h.extractOutputValues();
            assertThat(out).extracting(PolicyUpdate::version).containsExactly(1L, 2L);
            assertThat(out).extracting(PolicyUpdate::step).containsExactly(2L, 4L);
            assertThat(out.get(0).freshFraction()).isCloseTo(2.0 / 3, org.assertj.core.api.Assertions.within(1e-9));
            assertThat(log.versions()).extracting(PolicyUpdate::version).containsExactly(0L, 1L, 2L);
            // The published version is a Hugging Face checkpoint directory that verifies against its announcement.
            try (VerifiedVersion v = log.readVerified(out.get(1))) {
                assertThat(v.manifest().version()).isEqualTo(2);
                assertThat(v.manifest().step()).isEqualTo(4);
                assertThat(v.manifest().parent()).isEqualTo(1);
                assertThat(v.manifest().files().keySet()).containsExactlyInAnyOrder("config.json", "generation_config.json",
                        "model.safetensors", "tokenizer.json", "tokenizer_config.json");
            }
            // Every pair of every batch is in the ledger once, with the step that trained it.
            List<PromptOutcome> ledger = h.getSideOutput(PromptOutcome.LEDGER).stream().map(StreamRecord::getValue).toList();
            assertThat(ledger).hasSize(15).allSatisfy(o -> assertThat(o.outcome()).isEqualTo(PromptOutcome.Outcome.TRAINED));
            assertThat(ledger).extracting(PromptOutcome::step).containsOnly(1L, 2L, 3L, 4L, 5L);
            assertThat(ledger).filteredOn(o -> o.requestId().equals("req-fresh")).hasSize(5).noneMatch(PromptOutcome::fresh);
        }
    }

    @Test
    void restoreResumesTheExactTrainerAndKeepsVersionsUnique() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        OperatorSubtaskState snapshot;
        // Reference run: 6 batches without interruption, on its own log.
        InMemoryWeightLog refLog = OperatorTestSupport.logWithPolicy(0, 3);
        List<PolicyUpdate> uninterrupted = uninterrupted(refLog, 6);
        try (var h = harness(log)) {
            h.open();
            for (int i = 0; i < 3; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            snapshot = h.snapshot(1L, 1L); // after step 3; version 1 published
            h.processElement(new StreamRecord<>(batch(3))); // publishes version 2, then "fails"
        }
        try (var h = harness(log)) {
            h.initializeState(snapshot);
            h.open();
            for (int i = 3; i < 6; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            List<PolicyUpdate> out = h.extractOutputValues();
            // Version 2 was already published before the failure: the replayed step 4 becomes version 3.
            assertThat(out).extracting(PolicyUpdate::version).containsExactly(3L, 4L);
            assertThat(out).extracting(PolicyUpdate::step).containsExactly(4L, 6L);
            // Same weights as the uninterrupted run at step 6.
            assertSameWeights(log, out.get(1), refLog, uninterrupted.get(2));
        }
    }

    private static OneInputStreamOperatorTestHarness<PreferenceBatch, PolicyUpdate> onCheckpoint(InMemoryWeightLog log) throws Exception {
        return new OneInputStreamOperatorTestHarness<>(new TrainOperator(
                new TrainFunction(log, DPO, 2).withPublication(Publication.ON_CHECKPOINT)));
    }

    @Test
    void onCheckpointAVersionAppearsWhenTheCheckpointHoldingItCompletes() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        try (var h = onCheckpoint(log)) {
            h.open();
            h.processElement(new StreamRecord<>(batch(0)));
            h.processElement(new StreamRecord<>(batch(1))); // step 2: version 1 staged
            assertThat(log.versions()).extracting(PolicyUpdate::version).containsExactly(0L);
            assertThat(h.extractOutputValues()).isEmpty();
            h.snapshot(1L, 1L);
            h.processElement(new StreamRecord<>(batch(2)));
            h.processElement(new StreamRecord<>(batch(3))); // step 4: version 2 staged, after checkpoint 1
            h.notifyOfCompletedCheckpoint(1L);
            assertThat(log.versions()).extracting(PolicyUpdate::version).containsExactly(0L, 1L);
            assertThat(h.extractOutputValues()).extracting(PolicyUpdate::version).containsExactly(1L);
            h.snapshot(2L, 2L);
            h.notifyOfCompletedCheckpoint(2L);
            assertThat(h.extractOutputValues()).extracting(PolicyUpdate::step).containsExactly(2L, 4L);
            try (VerifiedVersion v = log.readVerified(log.versions().get(2))) {
                assertThat(v.manifest().parent()).isEqualTo(1);
            }
        }
    }

    @Test
    void onCheckpointNoVisibleVersionIsRedoneAfterAFailure() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        OperatorSubtaskState snapshot;
        try (var h = onCheckpoint(log)) {
            h.open();
            for (int i = 0; i < 2; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            snapshot = h.snapshot(1L, 1L); // version 1 staged before it
            for (int i = 2; i < 4; i++) {
                h.processElement(new StreamRecord<>(batch(i))); // version 2 staged, then the job "fails"
            }
        } // before checkpoint 1 was confirmed: nothing is visible yet
        assertThat(log.versions()).extracting(PolicyUpdate::version).containsExactly(0L);
        try (var h = onCheckpoint(log)) {
            h.initializeState(snapshot);
            h.open(); // checkpoint 1 completed (the job restored it): version 1 is committed now
            assertThat(log.versions()).extracting(PolicyUpdate::version).containsExactly(0L, 1L);
            for (int i = 2; i < 4; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            h.snapshot(2L, 2L);
            h.notifyOfCompletedCheckpoint(2L);
            // The lost version 2 is trained again under its own number; every visible version's step is new.
            assertThat(h.extractOutputValues()).extracting(PolicyUpdate::version).containsExactly(1L, 2L);
            assertThat(log.versions()).extracting(PolicyUpdate::step).containsExactly(0L, 2L, 4L);
        }
    }

    @Test
    void aReadOnlyStoreDoesNotStopTraining() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        try (var h = harness(log)) {
            h.open();
            log.readOnly = true;
            for (int i = 0; i < 2; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            assertThat(h.extractOutputValues()).isEmpty();
            log.readOnly = false;
            for (int i = 2; i < 4; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            assertThat(h.extractOutputValues()).extracting(PolicyUpdate::version).containsExactly(1L);
        }
    }

    /** A different random model of the policy's shape, as a Hugging Face checkpoint directory. */
    private static String referenceCheckpoint(java.nio.file.Path dir) throws Exception {
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager();
                io.optune.engine.model.TransformerLM other = io.optune.engine.EngineTestSupport.smallModel(m, 9)) {
            io.optune.engine.checkpoint.HfCheckpointWriter.write(other, null,
                    new io.optune.engine.checkpoint.LocalCheckpointFiles(dir), io.optune.engine.checkpoint.SafeTensorsStream.Dtype.F32);
        }
        return dir.toString();
    }

    private static OneInputStreamOperatorTestHarness<PreferenceBatch, PolicyUpdate> harness(InMemoryWeightLog log, String reference)
            throws Exception {
        TrainFunction f = new TrainFunction(log, DPO, 1);
        if (reference != null) {
            f.withReference(() -> new io.optune.engine.checkpoint.LocalCheckpointFiles(java.nio.file.Path.of(reference)));
        }
        return new OneInputStreamOperatorTestHarness<>(new TrainOperator(f));
    }

    @Test
    void theReferenceCheckpointIsTheFrozenReferenceAndSurvivesARestore(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp)
            throws Exception {
        String reference = referenceCheckpoint(tmp.resolve("ref"));
        // Without a reference checkpoint, the reference is the starting policy: the first step's log-ratio is 0.
        try (var h = harness(OperatorTestSupport.logWithPolicy(0, 3), null)) {
            h.open();
            h.processElement(new StreamRecord<>(batch(0)));
            assertThat(Math.abs(h.extractOutputValues().get(0).logRatioMean())).isLessThan(1e-6);
        }
        List<PolicyUpdate> uninterrupted;
        InMemoryWeightLog refLog = OperatorTestSupport.logWithPolicy(0, 3);
        try (var h = harness(refLog, reference)) {
            h.open();
            for (int i = 0; i < 3; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            uninterrupted = h.extractOutputValues();
            assertThat(Math.abs(uninterrupted.get(0).logRatioMean())).isGreaterThan(1e-3);
        }
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        OperatorSubtaskState snapshot;
        try (var h = harness(log, reference)) {
            h.open();
            h.processElement(new StreamRecord<>(batch(0)));
            snapshot = h.snapshot(1L, 1L);
        }
        // Restored without the option (and with the checkpoint gone): the reference comes from the state.
        java.nio.file.Files.delete(java.nio.file.Path.of(reference, "model.safetensors"));
        try (var h = harness(log, null)) {
            h.initializeState(snapshot);
            h.open();
            for (int i = 1; i < 3; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            List<PolicyUpdate> out = h.extractOutputValues();
            assertThat(out).extracting(PolicyUpdate::logRatioMean)
                    .containsExactly(uninterrupted.get(1).logRatioMean(), uninterrupted.get(2).logRatioMean());
            try (VerifiedVersion resumed = log.readVerified(out.get(1));
                    VerifiedVersion expected = refLog.readVerified(uninterrupted.get(2))) {
                assertThat(resumed.manifest().files().get("model.safetensors"))
                        .isEqualTo(expected.manifest().files().get("model.safetensors"));
            }
        }
    }

    @Test
    void aReferenceOfAnotherShapeIsRefused(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager();
                io.optune.engine.model.TransformerLM other = io.optune.engine.model.TransformerLM.create(
                        io.optune.engine.model.ModelConfig.gpt2(98, 32, 16, 1, 2), m, 1, false)) {
            io.optune.engine.checkpoint.HfCheckpointWriter.write(other, null,
                    new io.optune.engine.checkpoint.LocalCheckpointFiles(tmp), io.optune.engine.checkpoint.SafeTensorsStream.Dtype.F32);
        }
        try (var h = harness(OperatorTestSupport.logWithPolicy(0, 3), tmp.toString())) {
            org.assertj.core.api.Assertions.assertThatThrownBy(h::open).hasMessageContaining("same shape");
        }
    }

    @Test
    void theTrainerIsStreamedAsRawStateAndADamagedStreamIsRefused() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        OperatorSubtaskState snapshot;
        try (var h = harness(log)) {
            h.open();
            h.processElement(new StreamRecord<>(batch(0)));
            snapshot = h.snapshot(1L, 1L);
        }
        // The trainer (policy, reference, two moments: 4 x the parameters in float32) is raw state, one
        // partition; the list state holds only the version counter.
        long paramBytes;
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager();
                io.optune.engine.model.TransformerLM policy = io.optune.engine.EngineTestSupport.smallModel(m, 3)) {
            paramBytes = 4L * policy.parameters().values().stream().mapToLong(a -> a.getShape().size()).sum();
        }
        assertThat(snapshot.getRawOperatorState()).hasSize(1);
        assertThat(snapshot.getRawOperatorState().getStateSize()).isGreaterThan(4 * paramBytes);
        assertThat(snapshot.getManagedOperatorState().getStateSize()).isLessThan(4096);

        org.apache.flink.runtime.state.OperatorStateHandle raw = snapshot.getRawOperatorState().iterator().next();
        byte[] bytes = ((ByteStreamStateHandle) raw.getDelegateStateHandle()).getData().clone();
        bytes[bytes.length / 2] ^= 0x01; // one bit inside the tensor data
        OperatorSubtaskState damaged = OperatorSubtaskState.builder()
                .setManagedOperatorState(snapshot.getManagedOperatorState())
                .setRawOperatorState(new StateObjectCollection<>(List.of(new OperatorStreamStateHandle(
                        raw.getStateNameToPartitionOffsets(), new ByteStreamStateHandle("damaged", bytes)))))
                .build();
        try (var h = harness(log)) {
            assertThatThrownBy(() -> h.initializeState(damaged)).hasStackTraceContaining("checksum mismatch");
        }
    }

    @Test
    void aCheckpointHoldsTheTrainerAsOfItsBarrierWrittenOffTheTaskThreadWhileTrainingGoesOn() throws Exception {
        InMemoryWeightLog refLog = OperatorTestSupport.logWithPolicy(0, 3);
        List<PolicyUpdate> uninterrupted = uninterrupted(refLog, 6);
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        TrainFunction f = new TrainFunction(log, DPO, 2);
        OperatorSubtaskState state;
        try (var h = new OneInputStreamOperatorTestHarness<>(new TrainOperator(f))) {
            h.open();
            for (int i = 0; i < 2; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            java.io.ByteArrayOutputStream atBarrier = new java.io.ByteArrayOutputStream();
            f.writeTrainer(atBarrier);
            // The barrier: the snapshot is taken, its trainer bytes not yet written.
            org.apache.flink.streaming.api.operators.OperatorSnapshotFutures futures = h.getOperator().snapshotState(1L, 1L,
                    org.apache.flink.runtime.checkpoint.CheckpointOptions.forCheckpointWithDefaultLocation(),
                    new org.apache.flink.runtime.state.memory.MemCheckpointStreamFactory(Integer.MAX_VALUE));
            for (int i = 2; i < 4; i++) { // training goes on (and publishes) before the write runs
                h.processElement(new StreamRecord<>(batch(i)));
            }
            java.io.ByteArrayOutputStream trainedOn = new java.io.ByteArrayOutputStream();
            f.writeTrainer(trainedOn);
            assertThat(trainedOn.toByteArray()).isNotEqualTo(atBarrier.toByteArray());

            String taskThread = Thread.currentThread().getName();
            var written = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                assertThat(Thread.currentThread().getName()).isNotEqualTo(taskThread);
                try {
                    return org.apache.flink.streaming.api.operators.OperatorSnapshotFinalizer.create(futures);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }).get();
            state = written.getJobManagerOwnedState();
            org.apache.flink.runtime.state.OperatorStateHandle raw = state.getRawOperatorState().iterator().next();
            byte[] bytes;
            try (var in = raw.openInputStream()) {
                bytes = in.readAllBytes();
            }
            assertThat(raw.getStateNameToPartitionOffsets().values()).singleElement()
                    .satisfies(m -> assertThat(m.getOffsets()).containsExactly(0L));
            assertThat(bytes).isEqualTo(atBarrier.toByteArray()); // the trainer at the barrier, not as it is now
        }
        // Resuming from it trains steps 3-6 again and ends on the uninterrupted run's weights.
        try (var h = harness(log)) {
            h.initializeState(state);
            h.open();
            for (int i = 2; i < 6; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            List<PolicyUpdate> out = h.extractOutputValues();
            assertThat(out).extracting(PolicyUpdate::step).containsExactly(4L, 6L);
            assertSameWeights(log, out.get(1), refLog, uninterrupted.get(2));
        }
    }

    @Test
    void aSynchronousSnapshotWritesTheSameTrainerAtTheBarrier() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        TrainFunction f = new TrainFunction(log, DPO, 2).withAsyncSnapshot(false);
        try (var h = new OneInputStreamOperatorTestHarness<>(new TrainOperator(f))) {
            h.open();
            h.processElement(new StreamRecord<>(batch(0)));
            java.io.ByteArrayOutputStream atBarrier = new java.io.ByteArrayOutputStream();
            f.writeTrainer(atBarrier);
            org.apache.flink.streaming.api.operators.OperatorSnapshotFutures futures = h.getOperator().snapshotState(1L, 1L,
                    org.apache.flink.runtime.checkpoint.CheckpointOptions.forCheckpointWithDefaultLocation(),
                    new org.apache.flink.runtime.state.memory.MemCheckpointStreamFactory(Integer.MAX_VALUE));
            h.processElement(new StreamRecord<>(batch(1)));
            OperatorSubtaskState state = org.apache.flink.streaming.api.operators.OperatorSnapshotFinalizer.create(futures)
                    .getJobManagerOwnedState();
            try (var in = state.getRawOperatorState().iterator().next().openInputStream()) {
                assertThat(in.readAllBytes()).isEqualTo(atBarrier.toByteArray());
            }
        }
    }

    @Test
    void aCheckpointCancelledBeforeTheWriteLeavesNoState() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        try (var h = harness(log)) {
            h.open();
            h.processElement(new StreamRecord<>(batch(0)));
            org.apache.flink.streaming.api.operators.OperatorSnapshotFutures futures = h.getOperator().snapshotState(1L, 1L,
                    org.apache.flink.runtime.checkpoint.CheckpointOptions.forCheckpointWithDefaultLocation(),
                    new org.apache.flink.runtime.state.memory.MemCheckpointStreamFactory(Integer.MAX_VALUE));
            var raw = futures.getOperatorStateRawFuture();
            futures.cancel();
            raw.run(); // what Flink's checkpoint thread would do with an aborted checkpoint: nothing happens
            assertThat(raw.isCancelled()).isTrue();
            h.processElement(new StreamRecord<>(batch(1))); // the trainer is untouched by the freed copy
            assertThat(h.extractOutputValues()).extracting(PolicyUpdate::step).containsExactly(2L);
        }
    }

    @Test
    void refusesToRunOutsideTheTrainOperator() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        try (var h = new OneInputStreamOperatorTestHarness<>(
                new org.apache.flink.streaming.api.operators.ProcessOperator<>(new TrainFunction(log, DPO, 2)))) {
            assertThatThrownBy(h::open).hasMessageContaining("TrainOperator");
        }
    }
}
