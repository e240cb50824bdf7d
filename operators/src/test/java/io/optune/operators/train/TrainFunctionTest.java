package io.optune.operators.train;

import io.optune.engine.snapshot.PolicySnapshot;
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
        return new OneInputStreamOperatorTestHarness<>(new TrainOperator(new TrainFunction(log, DPO, 2, 24, 0, 8, 1L)));
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
            // The published snapshot verifies against its announced checksum.
            PolicySnapshot.Header header = PolicySnapshot.verify(log.read(out.get(1).location()));
            assertThat(header.version()).isEqualTo(2);
            assertThat(header.step()).isEqualTo(4);
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
        List<PolicyUpdate> uninterrupted;
        // Reference run: 6 batches without interruption, on its own log.
        InMemoryWeightLog refLog = OperatorTestSupport.logWithPolicy(0, 3);
        try (var h = harness(refLog)) {
            h.open();
            for (int i = 0; i < 6; i++) {
                h.processElement(new StreamRecord<>(batch(i)));
            }
            uninterrupted = h.extractOutputValues();
        }
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
            byte[] resumed = log.read(out.get(1).location());
            byte[] reference = refLog.read(uninterrupted.get(2).location());
            assertThat(PolicySnapshot.verify(resumed).paramsSha256()).isEqualTo(PolicySnapshot.verify(reference).paramsSha256());
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
        PolicySnapshot.Header policy = PolicySnapshot.verify(log.read(log.requireLatest().location()));
        long paramBytes = 4L * io.optune.engine.model.TransformerLM.parameterShapes(policy.config(), false).values().stream()
                .mapToLong(ai.djl.ndarray.types.Shape::size).sum();
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
    void refusesToRunOutsideTheTrainOperator() throws Exception {
        InMemoryWeightLog log = OperatorTestSupport.logWithPolicy(0, 3);
        try (var h = new OneInputStreamOperatorTestHarness<>(
                new org.apache.flink.streaming.api.operators.ProcessOperator<>(new TrainFunction(log, DPO, 2, 24, 0, 8, 1L)))) {
            assertThatThrownBy(h::open).hasMessageContaining("TrainOperator");
        }
    }
}
